package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/services/shop/internal/order"
	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// Customer is a signed-in customer.
type Customer struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Name    string `json:"name"`
	Company string `json:"company,omitempty"`
	Phone   string `json:"phone,omitempty"`
}

func customerOf(c store.Customer) Customer {
	return Customer{ID: c.ID, Email: c.Email, Name: c.Name, Company: c.Company, Phone: c.Phone}
}

// SignUp is the form of a new account.
type SignUp struct {
	Email, Name, Company, Phone, Password string
	ClientIP                              string // the address sign-ups are limited by
}

// Session is a signed-in session: Token goes in the cookie or the
// Authorization header.
type Session struct {
	Token    string
	Customer Customer
	Expires  time.Time
}

const minPassword, maxPassword = 10, 128

// SignUp creates an account and signs it in.
func (s *Shop) SignUp(ctx context.Context, in SignUp) (Session, error) {
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	in.Name, in.Company, in.Phone = strings.TrimSpace(in.Name), strings.TrimSpace(in.Company), strings.TrimSpace(in.Phone)
	fe := map[string]string{}
	switch {
	case in.Email == "":
		fe["email"] = "enter your e-mail address"
	case !order.ValidEmail(in.Email):
		fe["email"] = "is not an e-mail address"
	}
	switch {
	case in.Name == "":
		fe["name"] = "enter your name"
	case len(in.Name) > 100:
		fe["name"] = "is too long (100 characters at most)"
	}
	if len(in.Company) > 100 {
		fe["company"] = "is too long (100 characters at most)"
	}
	if in.Phone != "" {
		sub := order.FieldErrors{}
		order.ValidateContact(sub, order.Contact{Name: "x", Email: "x@x.io", Phone: in.Phone})
		if m, ok := sub["contact.phone"]; ok {
			fe["phone"] = m
		}
	}
	switch n := len(in.Password); {
	case n < minPassword:
		fe["password"] = fmt.Sprintf("must have at least %d characters", minPassword)
	case n > maxPassword:
		fe["password"] = fmt.Sprintf("must have at most %d characters", maxPassword)
	}
	if len(fe) > 0 {
		return Session{}, invalid("the account cannot be created", fe)
	}
	if d := s.signUps.Allow(in.ClientIP); !d.Allowed {
		return Session{}, &Error{Kind: KindRateLimited, Message: "too many sign-ups from your address; try again later", RetryAfter: d.RetryAfter}
	}
	if err := s.allowAttempt(in.ClientIP); err != nil {
		return Session{}, err
	}
	hash, err := hashPassword(s.cfg.Argon2, in.Password)
	if err != nil {
		return Session{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Session{}, err
	}
	c := store.Customer{ID: id.String(), Email: in.Email, Name: in.Name, Company: in.Company, Phone: in.Phone,
		PasswordHash: hash, CreatedAt: s.now()}
	if err := s.st.CreateCustomer(ctx, c); err != nil {
		if errors.Is(err, store.ErrEmailTaken) {
			return Session{}, invalid("the account cannot be created", map[string]string{"email": "an account with this e-mail exists; sign in instead"})
		}
		return Session{}, err
	}
	return s.newSession(ctx, customerOf(c))
}

// SignIn checks credentials and opens a session. Failed attempts slow the
// account and the client address down with growing delays (never a
// lock-out: the owner can sign in once the delay has passed, and from
// another address sooner), and every attempt of an address counts against
// its allowance of password hashes.
func (s *Shop) SignIn(ctx context.Context, email, password, clientIP string) (Session, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if v := s.signIn.Check(email, clientIP); v.Wait > 0 {
		return Session{}, throttled(v)
	}
	if err := s.allowAttempt(clientIP); err != nil {
		return Session{}, err
	}
	c, err := s.st.CustomerByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Session{}, err
	}
	hash := c.PasswordHash
	if hash == "" {
		hash = s.dummyHash // spend the same time whether the account exists or not
	}
	ok, err := checkPassword(hash, password)
	if err != nil {
		return Session{}, fmt.Errorf("check password: %w", err)
	}
	if !ok || c.ID == "" {
		if v := s.signIn.Failed(email, clientIP); v.Wait > 0 {
			s.log.WarnContext(ctx, "sign-in throttled", "scope", string(v.Scope), "client_ip", clientIP,
				"customer_id", c.ID, "wait", v.Wait.String())
		}
		return Session{}, &Error{Kind: KindUnauthorized, Message: "wrong e-mail or password",
			Fields: map[string]string{"password": "wrong e-mail or password"}}
	}
	s.signIn.Succeeded(email, clientIP)
	return s.newSession(ctx, customerOf(c))
}

// allowAttempt takes one password hash from the address's allowance.
func (s *Shop) allowAttempt(clientIP string) error {
	if d := s.attempts.Allow(clientIP); !d.Allowed {
		return &Error{Kind: KindRateLimited, Message: "too many attempts from your address; try again later", RetryAfter: d.RetryAfter}
	}
	return nil
}

// throttled is the error of an attempt made during a sign-in delay; it
// reads the same whether the account exists or not.
func throttled(v ratelimit.Verdict) *Error {
	msg := "too many failed sign-ins for this account; try again later"
	if v.Scope == ratelimit.ScopeAddress {
		msg = "too many failed sign-ins from your address; try again later"
	}
	return &Error{Kind: KindRateLimited, Message: msg, RetryAfter: v.Wait}
}

func (s *Shop) newSession(ctx context.Context, c Customer) (Session, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Session{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	exp := now.Add(s.cfg.SessionTTL)
	if err := s.st.CreateSession(ctx, tokenHash(token), c.ID, now, exp); err != nil {
		return Session{}, err
	}
	return Session{Token: token, Customer: c, Expires: exp}, nil
}

// SignOut ends a session.
func (s *Shop) SignOut(ctx context.Context, token string) error {
	hash := tokenHash(token)
	s.sessions.evict(hash)
	return s.st.DeleteSession(ctx, hash)
}

// Authenticate returns the customer of a session token.
func (s *Shop) Authenticate(ctx context.Context, token string) (Customer, error) {
	if token == "" || len(token) > 100 {
		return Customer{}, &Error{Kind: KindUnauthorized, Message: "sign in first"}
	}
	hash, now := tokenHash(token), s.now()
	if c, ok := s.sessions.get(hash, now); ok {
		s.cache.requests.WithLabelValues("session", "hit").Inc()
		return c, nil
	}
	s.cache.requests.WithLabelValues("session", "miss").Inc()
	c, expires, err := s.st.SessionCustomer(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		return Customer{}, &Error{Kind: KindUnauthorized, Message: "your session has ended; sign in again"}
	}
	if err != nil {
		return Customer{}, outage("the session store", fmt.Errorf("session lookup: %w", err))
	}
	s.sessions.put(hash, customerOf(c), expires, now)
	return customerOf(c), nil
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
