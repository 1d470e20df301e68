package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/platform/bearer"
	"github.com/fabrika/fabrika/platform/mail"
	"github.com/fabrika/fabrika/platform/password"
	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/text"
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

// minPassword is the shortest customer password (platform/password's
// policy applies too: no common passwords, not the e-mail address).
const minPassword = 10

// SignUp creates an account. Unless Config.SignUpSignsIn is set, it answers
// the same whether or not the address has an account: a new account gets
// an e-mail with a link to confirm the address (which signs it in), an
// existing one an e-mail saying someone tried to sign up with it. The
// returned session is then empty.
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
	order.CheckText(fe, "name", in.Name, text.Field{Max: 100, Required: true}, "enter your name")
	order.CheckText(fe, "company", in.Company, text.Field{Max: 100}, "")
	if in.Phone != "" {
		sub := text.FieldErrors{}
		order.ValidateContact(sub, order.Contact{Name: "x", Email: "x@x.io", Phone: in.Phone})
		if m, ok := sub["contact.phone"]; ok {
			fe["phone"] = m
		}
	}
	if err := password.Check(in.Password, minPassword, in.Email, localPart(in.Email), in.Name); err != nil {
		fe["password"] = err.Error()
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
	hash, err := password.Hash(in.Password, s.cfg.Password)
	if err != nil {
		return Session{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Session{}, err
	}
	c := store.Customer{ID: id.String(), Email: in.Email, Name: in.Name, Company: in.Company, Phone: in.Phone,
		PasswordHash: hash, CreatedAt: s.now(), Confirmed: s.cfg.SignUpSignsIn}
	err = s.st.CreateCustomer(ctx, c)
	switch {
	case errors.Is(err, store.ErrEmailTaken) && s.cfg.SignUpSignsIn:
		return Session{}, invalid("the account cannot be created", map[string]string{"email": "an account with this e-mail exists; sign in instead"})
	case errors.Is(err, store.ErrEmailTaken):
		return Session{}, s.mailOnce(ctx, in.Email, mail.Message{To: in.Email, Subject: "Someone tried to create an account with your address",
			Body: "Someone, perhaps you, tried to create a new account at our shop with this e-mail address, which already has one.\n\n" +
				"If it was you, sign in: " + s.link("/account/login", nil) + "\nForgot your password? Reset it: " + s.link("/account/forgot", nil) +
				"\n\nIf it was not you, you can ignore this message; your account is unchanged.\n"})
	case err != nil:
		return Session{}, err
	}
	if s.cfg.SignUpSignsIn {
		return s.newSession(ctx, customerOf(c))
	}
	return Session{}, s.sendConfirm(ctx, c)
}

// sendConfirm e-mails a link that confirms the address and signs in.
func (s *Shop) sendConfirm(ctx context.Context, c store.Customer) error {
	token, err := s.newToken(ctx, c.ID, store.TokenConfirm)
	if err != nil {
		return err
	}
	return s.mailOnce(ctx, c.Email, mail.Message{To: c.Email, Subject: "Confirm your e-mail address",
		Body: "Hello " + c.Name + ",\n\nconfirm your e-mail address to finish creating your account (the link works once, for " +
			s.cfg.TokenTTL.String() + "):\n\n" + s.link("/account/confirm", url.Values{"token": {token}}) +
			"\n\nIf you did not sign up, ignore this message.\n"})
}

// mailOnce sends m unless the address had its share of e-mails this hour
// (then it is dropped silently: the answer must not differ).
func (s *Shop) mailOnce(ctx context.Context, to string, m mail.Message) error {
	if !s.mails.Allow(to).Allowed {
		s.log.WarnContext(ctx, "account e-mail not sent: too many for one address this hour", "subject", m.Subject)
		return nil
	}
	if err := s.cfg.Mail.Send(ctx, m); err != nil {
		return outage("e-mail", fmt.Errorf("send %q: %w", m.Subject, err))
	}
	return nil
}

// newToken stores a single-use token for an e-mailed link and returns it.
func (s *Shop) newToken(ctx context.Context, customerID, purpose string) (string, error) {
	token := bearer.New()
	now := s.now()
	if err := s.st.CreateToken(ctx, bearer.Hash(token), customerID, purpose, now, now.Add(s.cfg.TokenTTL)); err != nil {
		return "", err
	}
	return token, nil
}

// link is an absolute link to a page of the shop when PublicURL is set.
func (s *Shop) link(path string, q url.Values) string {
	u := strings.TrimRight(s.cfg.PublicURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func localPart(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return local
}

var errBadLink = &Error{Kind: KindInvalid, Message: "this link is not valid any more: it was used, or it expired; ask for a new one",
	Fields: map[string]string{"token": "is used or expired"}}

// ConfirmEmail spends a confirmation link and signs its account in.
func (s *Shop) ConfirmEmail(ctx context.Context, token string) (Session, error) {
	var c store.Customer
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		id, err := s.st.UseToken(ctx, tx, bearer.Hash(token), store.TokenConfirm, s.now())
		if err != nil {
			return err
		}
		if err := s.st.Confirm(ctx, tx, id, s.now()); err != nil {
			return err
		}
		c.ID = id
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, errBadLink
	}
	if err != nil {
		return Session{}, err
	}
	if c, err = s.st.CustomerByID(ctx, c.ID); err != nil {
		return Session{}, err
	}
	return s.newSession(ctx, customerOf(c))
}

// RequestPasswordReset e-mails a reset link when the address has an
// account; it answers the same either way.
func (s *Shop) RequestPasswordReset(ctx context.Context, email, clientIP string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if !order.ValidEmail(email) {
		return invalid("enter your e-mail address", map[string]string{"email": "is not an e-mail address"})
	}
	if err := s.allowAttempt(clientIP); err != nil {
		return err
	}
	c, err := s.st.CustomerByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	token, err := s.newToken(ctx, c.ID, store.TokenReset)
	if err != nil {
		return err
	}
	return s.mailOnce(ctx, c.Email, mail.Message{To: c.Email, Subject: "Reset your password",
		Body: "Hello " + c.Name + ",\n\nchoose a new password here (the link works once, for " + s.cfg.TokenTTL.String() + "):\n\n" +
			s.link("/account/reset", url.Values{"token": {token}}) +
			"\n\nIf you did not ask for it, ignore this message: your password stays as it is.\n"})
}

// ResetPassword sets a new password with a reset link, ends every session
// of the account and signs it in. A weak password leaves the link usable.
func (s *Shop) ResetPassword(ctx context.Context, token, newPassword, clientIP string) (Session, error) {
	if err := s.allowAttempt(clientIP); err != nil {
		return Session{}, err
	}
	var c store.Customer
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		id, err := s.st.UseToken(ctx, tx, bearer.Hash(token), store.TokenReset, s.now())
		if err != nil {
			return err
		}
		if c, err = s.st.CustomerByID(ctx, id); err != nil {
			return err
		}
		if err := password.Check(newPassword, minPassword, c.Email, localPart(c.Email), c.Name); err != nil {
			return invalid("choose another password", map[string]string{"password": err.Error()})
		}
		hash, err := password.Hash(newPassword, s.cfg.Password)
		if err != nil {
			return err
		}
		if err := s.st.SetPassword(ctx, tx, id, hash, s.now()); err != nil {
			return err
		}
		tx.AfterCommit(func() { s.caches.Invalidate(cacheCustomer, id) })
		return s.st.Confirm(ctx, tx, id, s.now()) // the link proves the address
	})
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, errBadLink
	}
	if err != nil {
		return Session{}, err
	}
	s.signIn.Succeeded(c.Email, clientIP)
	return s.newSession(ctx, customerOf(c))
}

// ChangePassword sets a new password for a signed-in customer who gives the
// current one; every other session of the account ends.
func (s *Shop) ChangePassword(ctx context.Context, cu Customer, current, newPassword, clientIP string) (Session, error) {
	if v := s.signIn.Check(cu.Email, clientIP); v.Wait > 0 {
		return Session{}, throttled(v)
	}
	if err := s.allowAttempt(clientIP); err != nil {
		return Session{}, err
	}
	c, err := s.st.CustomerByID(ctx, cu.ID)
	if err != nil {
		return Session{}, err
	}
	ok, err := password.Verify(current, c.PasswordHash)
	if err != nil {
		return Session{}, fmt.Errorf("check password: %w", err)
	}
	if !ok {
		s.signIn.Failed(c.Email, clientIP)
		return Session{}, invalid("the password was not changed", map[string]string{"current_password": "is not your current password"})
	}
	if err := password.Check(newPassword, minPassword, c.Email, localPart(c.Email), c.Name); err != nil {
		return Session{}, invalid("the password was not changed", map[string]string{"password": err.Error()})
	}
	hash, err := password.Hash(newPassword, s.cfg.Password)
	if err != nil {
		return Session{}, err
	}
	if err := s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		tx.AfterCommit(func() { s.caches.Invalidate(cacheCustomer, c.ID) })
		return s.st.SetPassword(ctx, tx, c.ID, hash, s.now())
	}); err != nil {
		return Session{}, err
	}
	return s.newSession(ctx, customerOf(c))
}

// SignIn checks credentials and opens a session. Failed attempts slow the
// account and the client address down with growing delays (never a
// lock-out: the owner can sign in once the delay has passed, and from
// another address sooner), and every attempt of an address counts against
// its allowance of password hashes.
func (s *Shop) SignIn(ctx context.Context, email, pw, clientIP string) (Session, error) {
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
	ok, err := password.Verify(pw, hash)
	if err != nil {
		return Session{}, fmt.Errorf("check password: %w", err)
	}
	if !ok || c.ID == "" {
		if v := s.signIn.Failed(email, clientIP); v.Wait > 0 {
			s.throttled.WithLabelValues(string(v.Scope)).Inc()
			s.log.WarnContext(ctx, "sign-in throttled", "scope", string(v.Scope), "client_ip", clientIP,
				"customer_id", c.ID, "wait", v.Wait.String())
		}
		return Session{}, &Error{Kind: KindUnauthorized, Message: "wrong e-mail or password",
			Fields: map[string]string{"password": "wrong e-mail or password"}}
	}
	s.signIn.Succeeded(email, clientIP)
	if !c.Confirmed {
		// Only someone who knows the password learns the account exists.
		if err := s.sendConfirm(ctx, c); err != nil {
			return Session{}, err
		}
		return Session{}, &Error{Kind: KindUnauthorized, Message: "confirm your e-mail address first: we have sent you a new link",
			Fields: map[string]string{"email": "is not confirmed yet: open the link we sent you"}}
	}
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
	token := bearer.New()
	now := s.now()
	exp := now.Add(s.cfg.SessionTTL)
	if err := s.st.CreateSession(ctx, bearer.Hash(token), c.ID, now, exp); err != nil {
		return Session{}, err
	}
	return Session{Token: token, Customer: c, Expires: exp}, nil
}

// SignOut ends a session, in every replica's session cache once deleted.
func (s *Shop) SignOut(ctx context.Context, token string) error {
	hash := bearer.Hash(token)
	err := s.st.DeleteSession(ctx, hash)
	s.caches.Invalidate(cacheSession, hash)
	return err
}

// Authenticate returns the customer of a session token.
func (s *Shop) Authenticate(ctx context.Context, token string) (Customer, error) {
	if token == "" || len(token) > 100 {
		return Customer{}, &Error{Kind: KindUnauthorized, Message: "sign in first"}
	}
	hash, now := bearer.Hash(token), s.now()
	c, gen, ok := s.sessions.get(hash, now)
	if ok {
		s.cache.requests.WithLabelValues("session", "hit").Inc()
		return c, nil
	}
	s.cache.requests.WithLabelValues("session", "miss").Inc()
	sc, expires, err := s.st.SessionCustomer(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		return Customer{}, &Error{Kind: KindUnauthorized, Message: "your session has ended; sign in again"}
	}
	if err != nil {
		return Customer{}, outage("the session store", fmt.Errorf("session lookup: %w", err))
	}
	s.sessions.put(gen, hash, customerOf(sc), expires, now)
	return customerOf(sc), nil
}
