package staff

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/fabrika/fabrika/services/gateway/internal/store"
)

// ErrNoSecretKey: the gateway has no key to keep TOTP seeds at rest
// (FABRIKA_SECRET_KEY), so nobody can enrol.
var ErrNoSecretKey = errors.New("two-factor sign-in needs FABRIKA_SECRET_KEY on the gateway to keep its seeds")

var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NeedsTOTP tells whether the member must enrol a second factor before
// anything else: admins must have one (unless the gateway runs with the
// development switch AllowAdminWithoutTOTP).
func (s *Service) NeedsTOTP(c *Current) bool {
	return c.Account.Role == RoleAdmin && c.Account.TOTPSecret == "" && !s.cfg.AllowAdminWithoutTOTP
}

// NewTOTP makes a new TOTP seed for the member to enrol (RFC 6238: SHA-1,
// 6 digits, 30 s): its base32 secret and otpauth:// URL, shown once.
func (s *Service) NewTOTP(c *Current) (secret, url string, err error) {
	if s.cfg.Secrets == nil {
		return "", "", ErrNoSecretKey
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: "Fabrika", AccountName: c.Account.Login})
	if err != nil {
		return "", "", fmt.Errorf("new TOTP seed: %w", err)
	}
	return k.Secret(), k.URL(), nil
}

// EnableTOTP turns on the second factor with the seed NewTOTP made, once a
// code from it proves the member's authenticator has it; the seed is stored
// sealed, bound to the account.
func (s *Service) EnableTOTP(ctx context.Context, c *Current, secret, code string) error {
	if s.cfg.Secrets == nil {
		return ErrNoSecretKey
	}
	if ok, err := totp.ValidateCustom(code, secret, s.cfg.Now(), totpOpts); err != nil || !ok {
		return &InvalidError{Fields: map[string]string{"code": "is not the current code of this key; check the authenticator's clock"}}
	}
	sealed, err := s.cfg.Secrets.Seal([]byte(secret), []byte("totp:"+c.Account.ID))
	if err != nil {
		return err
	}
	if err := s.st.SetTOTP(ctx, c.Account.ID, sealed, s.cfg.Now()); err != nil {
		return err
	}
	s.invalidate("")
	return nil
}

// checkTOTP tells whether code is the account's current one-time code and
// was not used before: the time step it matches (the current one or, for a
// skewed clock, a neighbour) must be newer than the last step the account
// signed in with, and is recorded as used in the same statement that
// checks it.
func (s *Service) checkTOTP(ctx context.Context, a store.Account, code string) (bool, error) {
	if s.cfg.Secrets == nil {
		return false, ErrNoSecretKey
	}
	secret, err := s.cfg.Secrets.Open(a.TOTPSecret, []byte("totp:"+a.ID))
	if err != nil {
		return false, fmt.Errorf("open the TOTP seed of %s: %w", a.Login, err)
	}
	now := s.cfg.Now()
	for skew := -int64(totpOpts.Skew); skew <= int64(totpOpts.Skew); skew++ {
		at := now.Add(time.Duration(skew*int64(totpOpts.Period)) * time.Second)
		want, err := totp.GenerateCodeCustom(string(secret), at, totpOpts)
		if err != nil {
			return false, fmt.Errorf("TOTP code of %s: %w", a.Login, err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s.st.UseTOTPStep(ctx, a.ID, at.Unix()/int64(totpOpts.Period))
		}
	}
	return false, nil
}
