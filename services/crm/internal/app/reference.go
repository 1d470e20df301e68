package app

import (
	"cmp"
	"context"
	"slices"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/order"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// ReferenceHandlers are the inbox handlers of what the CRM keeps besides
// orders: the staff accounts (staff.changed, from the gateway), to offer
// the managers an order can be assigned to, and the price lists' names
// (pricelist.published, from mes-calc), to show products, materials,
// finishes, operations and workstations by name.
func (a *App) ReferenceHandlers() map[string]inbox.Handler {
	return map[string]inbox.Handler{
		contracts.Subject(contracts.StaffChanged): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.StaffChangedV1) error {
			return a.store.SaveStaff(ctx, tx, store.StaffMember{ID: p.StaffID, Login: p.Login, Role: p.Role, Disabled: p.Disabled}, p.ChangedAt)
		}),
		contracts.Subject(contracts.PriceListPublished): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.PriceListV1) error {
			return a.store.SaveNames(ctx, tx, p.Version, priceListNames(p))
		}),
	}
}

func priceListNames(p contracts.PriceListV1) []store.Name {
	var out []store.Name
	for _, x := range p.Products {
		out = append(out, store.Name{Kind: store.NameProduct, Code: x.Code, Name: x.Name})
		for _, op := range x.Operations {
			out = append(out, store.Name{Kind: store.NameOperation, Code: op.Code, Name: op.Name})
		}
	}
	for _, x := range p.Materials {
		out = append(out, store.Name{Kind: store.NameMaterial, Code: x.Code, Name: x.Name})
	}
	for _, x := range p.Finishes {
		out = append(out, store.Name{Kind: store.NameFinish, Code: x.Code, Name: x.Name})
	}
	for _, x := range p.Workstations {
		out = append(out, store.Name{Kind: store.NameWorkstation, Code: x.Code, Name: x.Name})
	}
	// One name per code and kind (products may share an operation code).
	slices.SortStableFunc(out, func(a, b store.Name) int {
		if a.Kind != b.Kind {
			return cmp.Compare(a.Kind, b.Kind)
		}
		return cmp.Compare(a.Code, b.Code)
	})
	return slices.CompactFunc(out, func(a, b store.Name) bool { return a.Kind == b.Kind && a.Code == b.Code })
}

// Managers lists the active managers and admins orders can be assigned to.
func (a *App) Managers(ctx context.Context) ([]store.StaffMember, error) {
	return a.store.Managers(ctx, a.db)
}

// Names returns the price lists' names by kind and code.
func (a *App) Names(ctx context.Context) (map[string]map[string]string, error) {
	return a.store.Names(ctx, a.db)
}

// checkAssignee refuses an assignee who is not an active manager or admin.
func (a *App) checkAssignee(ctx context.Context, tx *sqldb.Tx, login string) error {
	list, err := a.store.Managers(ctx, tx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list, func(m store.StaffMember) bool { return m.Login == login }) {
		return &order.ValidationError{Fields: map[string]string{"manager": login + " is not an active manager's account"}}
	}
	return nil
}
