package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/shop/internal/order"
	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// CartLine is a line of the cart with its current quote.
type CartLine struct {
	store.CartLine
	UnitPrice, Total int64
	LeadDays         int
	Error            string // the line no longer quotes (price list changed)
}

// Cart is a customer's cart priced with the current price list.
type Cart struct {
	Lines    []CartLine
	Currency string
	Total    int64
	Version  int64
}

// AddToCart quotes a line and puts it in the cart.
func (s *Shop) AddToCart(ctx context.Context, c Customer, l contracts.Config) error {
	fe := text.FieldErrors{}
	order.ValidateLine(fe, "", l)
	if len(fe) > 0 {
		return invalid("the part cannot be added", fe)
	}
	if _, err := s.Quote(ctx, l); err != nil {
		return err
	}
	n, err := s.st.CountCartLines(ctx, c.ID)
	if err != nil {
		return err
	}
	if n >= order.MaxLines {
		return invalid("the cart is full", map[string]string{"cart": fmt.Sprintf("an order has at most %d lines", order.MaxLines)})
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	return s.st.AddCartLine(ctx, c.ID, store.CartLine{ID: id.String(), Product: l.Product, Options: l.Options,
		Quantity: l.Quantity, Lead: l.Lead, AddedAt: s.now()})
}

// Cart returns the cart priced with the current price list.
func (s *Shop) Cart(ctx context.Context, c Customer) (Cart, error) {
	lines, err := s.st.CartLines(ctx, c.ID)
	if err != nil {
		return Cart{}, err
	}
	pl, err := s.PriceList(ctx)
	if err != nil {
		return Cart{}, err
	}
	out := Cart{Currency: pl.Currency, Version: pl.Version}
	for _, l := range lines {
		cl := CartLine{CartLine: l}
		q, err := pl.Quote(contracts.Config{Product: l.Product, Options: l.Options, Quantity: l.Quantity, Lead: l.Lead})
		if err != nil {
			cl.Error = err.Error()
		} else {
			cl.UnitPrice, cl.Total, cl.LeadDays = q.UnitPrice, q.Total, q.LeadDays
			out.Total += q.Total
		}
		out.Lines = append(out.Lines, cl)
	}
	return out, nil
}

// RemoveFromCart deletes a line of the cart.
func (s *Shop) RemoveFromCart(ctx context.Context, c Customer, id string) error {
	return s.st.DeleteCartLine(ctx, c.ID, id)
}

// CartRequest turns the cart into an order request with the given address
// and contact.
func (s *Shop) CartRequest(ctx context.Context, c Customer) ([]contracts.Config, error) {
	lines, err := s.st.CartLines(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	out := make([]contracts.Config, 0, len(lines))
	for _, l := range lines {
		out = append(out, contracts.Config{Product: l.Product, Options: l.Options, Quantity: l.Quantity, Lead: l.Lead})
	}
	return out, nil
}
