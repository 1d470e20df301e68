package ratelimit

import (
	"time"
)

// SignInConfig are the policies of SignIn; zero fields take the defaults
// below.
type SignInConfig struct {
	// Account: failures against one account from any address. Its Max is
	// the longest the owner may be kept waiting by someone else's guesses
	// (default 5 free, then 1 s doubling up to 1 minute).
	Account Backoff
	// Address: failures from one client address against any account
	// (default 20 free, then 1 s doubling up to 15 minutes).
	Address Backoff
	// Pair: failures against one account from one address, the guesser
	// that does not hide (default 3 free, then 2 s doubling up to 15
	// minutes); the owner signing in from elsewhere does not feel it.
	Pair    Backoff
	MaxKeys int              // keys per scope, default DefaultMaxKeys
	Now     func() time.Time // default time.Now
}

func (c *SignInConfig) defaults() {
	if c.Account == (Backoff{}) {
		c.Account = Backoff{Free: 5, Base: time.Second, Max: time.Minute}
	}
	if c.Address == (Backoff{}) {
		c.Address = Backoff{Free: 20, Base: time.Second, Max: 15 * time.Minute}
	}
	if c.Pair == (Backoff{}) {
		c.Pair = Backoff{Free: 3, Base: 2 * time.Second, Max: 15 * time.Minute}
	}
}

// Scope names what a wait is counted against.
type Scope string

// The scopes of a sign-in wait.
const (
	ScopeAccount Scope = "account"
	ScopeAddress Scope = "address"
)

// Verdict is a sign-in throttle's answer: wait Wait before trying again
// (0: go ahead), counted against Scope.
type Verdict struct {
	Wait  time.Duration
	Scope Scope
}

// SignIn throttles password sign-ins (staff and customers alike) with
// growing delays by account, by client address, and by the two together,
// instead of a lock-out that anyone who knows an account name could
// trigger. Attempts refused while waiting are not counted, and a success
// clears the account's failures but not the address's (an attacker cannot
// reset the counter of their address by signing in to an account of
// their own between guesses).
type SignIn struct {
	account, address, pair *Throttle
}

// NewSignIn returns a sign-in throttle.
func NewSignIn(cfg SignInConfig) *SignIn {
	cfg.defaults()
	return &SignIn{
		account: NewThrottle(cfg.Account, cfg.MaxKeys, cfg.Now),
		address: NewThrottle(cfg.Address, cfg.MaxKeys, cfg.Now),
		pair:    NewThrottle(cfg.Pair, cfg.MaxKeys, cfg.Now),
	}
}

// Check tells whether an attempt of account from address must wait; call
// it before checking the password. account is the normalised login
// (whether or not such an account exists, so the answer reveals nothing).
func (s *SignIn) Check(account, address string) Verdict {
	v := Verdict{Wait: s.address.Wait(address), Scope: ScopeAddress}
	if w := max(s.account.Wait(account), s.pair.Wait(pairKey(account, address))); w > v.Wait {
		v = Verdict{Wait: w, Scope: ScopeAccount}
	}
	return v
}

// Failed records a failed attempt; the verdict is the wait it now imposes
// on the next attempt (callers log or audit a non-zero one).
func (s *SignIn) Failed(account, address string) Verdict {
	_, wa := s.address.Fail(address)
	_, wc := s.account.Fail(account)
	_, wp := s.pair.Fail(pairKey(account, address))
	v := Verdict{Wait: wa, Scope: ScopeAddress}
	if w := max(wc, wp); w > v.Wait {
		v = Verdict{Wait: w, Scope: ScopeAccount}
	}
	return v
}

// Succeeded clears the account's failures.
func (s *SignIn) Succeeded(account, address string) {
	s.account.Reset(account)
	s.pair.Reset(pairKey(account, address))
}

func pairKey(account, address string) string { return address + "\x00" + account }
