// Package staff is how staff members sign in at the gateway: accounts with
// argon2id passwords (platform/password), sign-in attempts limited per
// client address and failures throttled with growing delays by account and
// by address (platform/ratelimit; no lock-out that anyone knowing a login
// could trigger), sessions behind a random cookie token, and the
// session-bound CSRF token.
package staff

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/fabrika/fabrika/platform/bearer"
	"github.com/fabrika/fabrika/platform/cachebus"
	"github.com/fabrika/fabrika/platform/password"
	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/services/gateway/internal/store"
)

// Roles.
const (
	RoleAdmin    = "admin"
	RoleManager  = "manager"
	RoleOperator = "operator"
)

// Roles lists the roles in display order.
func Roles() []string { return []string{RoleAdmin, RoleManager, RoleOperator} }

// Config tunes sign-in; zero values take the defaults.
type Config struct {
	// Throttle delays the next sign-in after failures, by account, by
	// client address and by both (platform/ratelimit's defaults: an
	// account waits at most a minute, whoever guesses at it).
	Throttle ratelimit.SignInConfig
	// SessionTTL is a session's absolute lifetime (default 12h); SessionIdle
	// ends it earlier without activity (default 1h).
	SessionTTL  time.Duration
	SessionIdle time.Duration
	// Attempts limits sign-in attempts of any outcome from one client
	// address (default 20 at once, then 10 a minute). There is no such
	// limit per login: it would let anyone keep the owner out.
	Attempts ratelimit.Rate
	// CacheTTL is how long a session read from the database is trusted
	// before it is read again (default 5s). Sign-outs and account changes
	// reach every gateway replica at once through Caches; the TTL is the
	// longest a session ended on another replica keeps working here while
	// the broker is away.
	CacheTTL time.Duration
	// Caches carries session invalidations to every gateway replica
	// (host.Caches); nil: this process only.
	Caches Caches
	// CacheSize bounds the sessions kept in memory (default 10,000); when
	// full, the least recently used one is forgotten.
	CacheSize int
	// Password hashing cost (default password.Default).
	Password password.Params
	// Secrets seals TOTP seeds at rest (FABRIKA_SECRET_KEY); without it
	// nobody can enrol a second factor.
	Secrets *secretbox.Box
	// AllowAdminWithoutTOTP lets admins work without a second factor: a
	// development switch (fabrika dev); by default an admin without one is
	// sent to enrol before anything else.
	AllowAdminWithoutTOTP bool
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

func (c *Config) defaults() {
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defD(&c.SessionTTL, 12*time.Hour)
	defD(&c.SessionIdle, time.Hour)
	if c.Attempts.Events <= 0 || c.Attempts.Per <= 0 {
		c.Attempts = ratelimit.Rate{Events: 20, Per: 2 * time.Minute}
	}
	defD(&c.CacheTTL, 5*time.Second)
	if c.CacheSize <= 0 {
		c.CacheSize = 10_000
	}
	if c.Password == (password.Params{}) {
		c.Password = password.Default
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Throttle.Now == nil {
		c.Throttle.Now = c.Now
	}
}

// Errors.
var (
	// ErrSignInFailed covers a wrong login, a wrong password and a disabled
	// account alike: the person signing in is not told which.
	ErrSignInFailed = errors.New("sign-in failed")
	// ErrNoSession is a missing, unknown, expired or idle session.
	ErrNoSession = errors.New("no staff session")
)

// InvalidError names the fields at fault.
type InvalidError struct{ Fields map[string]string }

func (e *InvalidError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k, v := range e.Fields {
		keys = append(keys, k+": "+v)
	}
	slices.Sort(keys)
	return "invalid: " + strings.Join(keys, "; ")
}

// RateLimitedError is a sign-in attempt refused unread: over the attempt
// rate of its address (Scope "attempts") or within the delay its earlier
// failures imposed (Scope "account" or "address").
type RateLimitedError struct {
	RetryAfter time.Duration
	Scope      string
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many sign-in attempts; retry in %s", e.RetryAfter.Round(time.Second))
}

// FailureError is a failed sign-in with its reason, for the audit log only;
// it is ErrSignInFailed to everyone else.
type FailureError struct {
	Reason  string // unknown login, wrong password, disabled
	Account store.Account
	// Delay is the wait this failure imposes on the next attempt (zero
	// while failures are still free), and what it is counted against.
	Delay ratelimit.Verdict
}

func (e *FailureError) Error() string { return "sign-in failed: " + e.Reason }
func (e *FailureError) Unwrap() error { return ErrSignInFailed }

// Service manages staff accounts and sessions.
type Service struct {
	st       *store.Store
	cfg      Config
	attempts *ratelimit.Limiter // by client address
	throttle *ratelimit.SignIn
	dummy    string // a hash to verify against for unknown logins

	mu    sync.Mutex
	cache *simplelru.LRU[[sha256.Size]byte, *Current] // by the SHA-256 of the cookie token
	gen   uint64                                      // counts invalidations: a read that saw one happen is not cached
}

// Caches fans cache invalidations out to every gateway replica;
// *cachebus.Bus is one.
type Caches interface {
	Register(cache string, drop func(key string))
	Invalidate(cache, key string)
}

// cacheSession is the session cache's name on the bus; a key is a session's
// token hash (bearer.Hash), "" every session.
const cacheSession = "session"

// New returns the service.
func New(st *store.Store, cfg Config) (*Service, error) {
	cfg.defaults()
	dummy, err := password.Hash("no such account, but the same work", cfg.Password)
	if err != nil {
		return nil, err
	}
	cache, err := simplelru.NewLRU[[sha256.Size]byte, *Current](cfg.CacheSize, nil)
	if err != nil {
		return nil, err
	}
	if cfg.Caches == nil {
		cfg.Caches = cachebus.Local()
	}
	s := &Service{st: st, cfg: cfg, dummy: dummy, cache: cache,
		attempts: ratelimit.New(cfg.Attempts, 0, cfg.Now), throttle: ratelimit.NewSignIn(cfg.Throttle)}
	cfg.Caches.Register(cacheSession, s.drop)
	return s, nil
}

// drop forgets a session by its token hash, every session for "" (or a
// hash this service did not make: rather than guess).
func (s *Service) drop(hash string) {
	var key [sha256.Size]byte
	if len(hash) != 2*sha256.Size {
		s.forgetAll()
	} else if _, err := hex.Decode(key[:], []byte(hash)); err != nil {
		s.forgetAll()
	} else {
		s.forget(key)
	}
}

// invalidate drops a session ("" every session) on every replica; call it
// once the change is written.
func (s *Service) invalidate(hash string) { s.cfg.Caches.Invalidate(cacheSession, hash) }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

var loginRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{1,63}$`)

// NormalizeLogin is how logins are stored and looked up.
func NormalizeLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// checkPassword applies the password policy, with the staff minimum.
func checkPassword(pw, login string, fields map[string]string) {
	if err := password.Check(pw, password.StaffChars, login); err != nil {
		fields["password"] = err.Error()
	}
}

// checkRole checks a role and its workstations against known, the
// workstations of the MES's price list: an operator is bound to at least
// one of them, anyone else to none.
func checkRole(role string, ws []string, known []store.Workstation, fields map[string]string) []string {
	if !slices.Contains(Roles(), role) {
		fields["role"] = "must be admin, manager or operator"
		return nil
	}
	var out []string
	for _, w := range ws {
		w = strings.TrimSpace(w)
		if w == "" || slices.Contains(out, w) {
			continue
		}
		if !slices.ContainsFunc(known, func(k store.Workstation) bool { return k.Code == w }) {
			fields["workstations"] = unknownWorkstation(w, known)
			return nil
		}
		out = append(out, w)
	}
	if role == RoleOperator && len(out) == 0 {
		fields["workstations"] = "an operator must be bound to at least one workstation"
	}
	if role != RoleOperator && len(out) > 0 {
		fields["workstations"] = "only operators are bound to workstations"
	}
	return out
}

func unknownWorkstation(w string, known []store.Workstation) string {
	if len(known) == 0 {
		return fmt.Sprintf("%q is not known: no workstations are known yet; the gateway learns them from the MES's price list once the platform runs", w)
	}
	codes := make([]string, len(known))
	for i, k := range known {
		codes[i] = k.Code
	}
	return fmt.Sprintf("%q is not a workstation of the shop floor (%s)", w, strings.Join(codes, ", "))
}

// CheckRole checks a role and its workstations as Create and Update do.
func (s *Service) CheckRole(ctx context.Context, role string, workstations []string) error {
	known, err := s.st.Workstations(ctx)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	checkRole(role, workstations, known, fields)
	if len(fields) > 0 {
		return &InvalidError{Fields: fields}
	}
	return nil
}

// Workstations lists the workstations operators may be bound to.
func (s *Service) Workstations(ctx context.Context) ([]store.Workstation, error) {
	return s.st.Workstations(ctx)
}

// Create makes a staff account.
func (s *Service) Create(ctx context.Context, login, pw, role string, workstations []string) (store.Account, error) {
	login = NormalizeLogin(login)
	fields := map[string]string{}
	if !loginRe.MatchString(login) {
		fields["login"] = "2 to 64 characters: lower-case letters, digits, . _ @ -, starting with a letter or digit"
	}
	checkPassword(pw, login, fields)
	known, err := s.st.Workstations(ctx)
	if err != nil {
		return store.Account{}, err
	}
	ws := checkRole(role, workstations, known, fields)
	if len(fields) > 0 {
		return store.Account{}, &InvalidError{Fields: fields}
	}
	hash, err := password.Hash(pw, s.cfg.Password)
	if err != nil {
		return store.Account{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return store.Account{}, fmt.Errorf("staff id: %w", err)
	}
	a := store.Account{ID: id.String(), Login: login, Role: role, PasswordHash: hash, Workstations: ws, CreatedAt: s.cfg.Now().UTC()}
	if err := s.st.CreateAccount(ctx, a); err != nil {
		if errors.Is(err, store.ErrLoginTaken) {
			return store.Account{}, &InvalidError{Fields: map[string]string{"login": "is already taken"}}
		}
		return store.Account{}, err
	}
	return a, nil
}

// Update changes an account's role, workstations and disabled flag.
func (s *Service) Update(ctx context.Context, id, role string, workstations []string, disabled bool) error {
	fields := map[string]string{}
	known, err := s.st.Workstations(ctx)
	if err != nil {
		return err
	}
	ws := checkRole(role, workstations, known, fields)
	if len(fields) > 0 {
		return &InvalidError{Fields: fields}
	}
	if err := s.st.UpdateAccount(ctx, id, role, ws, disabled, s.cfg.Now()); err != nil {
		return err
	}
	s.invalidate("")
	return nil
}

// ResetPassword sets an account's password (by an admin) and ends its
// sessions.
func (s *Service) ResetPassword(ctx context.Context, id, pw string) error {
	a, err := s.st.AccountByID(ctx, id)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	checkPassword(pw, a.Login, fields)
	if len(fields) > 0 {
		return &InvalidError{Fields: fields}
	}
	hash, err := password.Hash(pw, s.cfg.Password)
	if err != nil {
		return err
	}
	if err := s.st.SetPassword(ctx, id, hash, "", s.cfg.Now()); err != nil {
		return err
	}
	s.invalidate("")
	return nil
}

// ChangePassword changes the signed-in member's own password; the other
// sessions of the account end, this one stays.
func (s *Service) ChangePassword(ctx context.Context, cur *Current, old, pw string) error {
	a, err := s.st.AccountByID(ctx, cur.Account.ID)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	if ok, err := password.Verify(old, a.PasswordHash); err != nil || !ok {
		fields["current"] = "is not your current password"
	}
	checkPassword(pw, a.Login, fields)
	if len(fields) > 0 {
		return &InvalidError{Fields: fields}
	}
	hash, err := password.Hash(pw, s.cfg.Password)
	if err != nil {
		return err
	}
	if err := s.st.SetPassword(ctx, a.ID, hash, cur.Session.TokenHash, s.cfg.Now()); err != nil {
		return err
	}
	s.invalidate("")
	return nil
}

// Unlock lifts the sign-in delay of an account (an admin who knows the
// owner is the one trying).
func (s *Service) Unlock(ctx context.Context, id string) error {
	a, err := s.st.AccountByID(ctx, id)
	if err != nil {
		return err
	}
	s.throttle.Succeeded(a.Login, "")
	return nil
}

// Delayed tells how long the next sign-in to an account must wait now.
func (s *Service) Delayed(login string) time.Duration {
	return s.throttle.Check(NormalizeLogin(login), "").Wait
}

// Accounts lists the accounts.
func (s *Service) Accounts(ctx context.Context) ([]store.Account, error) { return s.st.Accounts(ctx) }

// Account returns one account.
func (s *Service) Account(ctx context.Context, id string) (store.Account, error) {
	return s.st.AccountByID(ctx, id)
}

// Allow takes a sign-in attempt from the client address for the login:
// the address's attempt rate and the delays earlier failures imposed must
// both allow it.
func (s *Service) Allow(ip, login string) error {
	if d := s.attempts.Allow(ip); !d.Allowed {
		return &RateLimitedError{RetryAfter: d.RetryAfter, Scope: "attempts"}
	}
	if v := s.throttle.Check(NormalizeLogin(login), ip); v.Wait > 0 {
		return &RateLimitedError{RetryAfter: v.Wait, Scope: string(v.Scope)}
	}
	return nil
}

// SignIn checks a login, password and, for a member who enrolled a second
// factor, the one-time code (the caller has taken the attempt with Allow),
// and opens a session; it returns the cookie token. A failure is counted
// against the login and the address (whether the login exists or not, so
// the delays tell nothing).
func (s *Service) SignIn(ctx context.Context, login, pw, code, ip, userAgent string) (string, *Current, error) {
	login = NormalizeLogin(login)
	now := s.cfg.Now()
	fail := func(reason string, a store.Account) error {
		return &FailureError{Reason: reason, Account: a, Delay: s.throttle.Failed(login, ip)}
	}
	a, err := s.st.AccountByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		_, _ = password.Verify(pw, s.dummy) // the same work as for a known login
		return "", nil, fail("unknown login", store.Account{Login: login})
	}
	if err != nil {
		return "", nil, err
	}
	ok, err := password.Verify(pw, a.PasswordHash)
	if err != nil {
		return "", nil, fmt.Errorf("sign in %s: %w", login, err)
	}
	switch {
	case a.Disabled:
		return "", nil, fail("account disabled", a)
	case !ok:
		return "", nil, fail("wrong password", a)
	}
	if a.TOTPSecret != "" {
		ok, err := s.checkTOTP(ctx, a, code)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return "", nil, fail("wrong one-time code", a)
		}
	}
	s.throttle.Succeeded(login, ip)
	token, csrf := bearer.New(), bearer.New()
	if len(userAgent) > 256 {
		userAgent = userAgent[:256]
	}
	se := store.Session{TokenHash: bearer.Hash(token), StaffID: a.ID, CSRFToken: csrf, IP: ip, UserAgent: userAgent,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.st.CreateSession(ctx, se); err != nil {
		return "", nil, err
	}
	return token, &Current{Session: se, Account: a, loaded: now}, nil
}

// Current is a signed-in member, as read for a request.
type Current struct {
	Session store.Session
	Account store.Account
	loaded  time.Time
}

// Session returns the session a cookie token opens. A session read from
// the database is kept in memory for CacheTTL (and never past its expiry):
// sign-out, password changes and account changes forget it at once on
// every replica (Caches); while the broker is away, those made through
// another replica take effect here within CacheTTL.
func (s *Service) Session(ctx context.Context, token string) (*Current, error) {
	if token == "" || len(token) > 128 {
		return nil, ErrNoSession
	}
	key := sha256.Sum256([]byte(token))
	now := s.cfg.Now()
	s.mu.Lock()
	old, ok := s.cache.Get(key)
	gen := s.gen
	s.mu.Unlock()
	if ok && now.Sub(old.loaded) < s.cfg.CacheTTL && !now.Before(old.loaded) && now.Before(old.Session.ExpiresAt) {
		return old, nil
	}
	hash := hex.EncodeToString(key[:])
	se, a, err := s.st.SessionByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		s.forget(key)
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	if a.Disabled || !now.Before(se.ExpiresAt) || now.Sub(se.LastSeenAt) > s.cfg.SessionIdle {
		_ = s.st.DeleteSession(ctx, hash)
		s.forget(key)
		return nil, ErrNoSession
	}
	if now.Sub(se.LastSeenAt) > time.Minute {
		if err := s.st.TouchSession(ctx, hash, now); err != nil {
			return nil, err
		}
		se.LastSeenAt = now
	}
	c := &Current{Session: se, Account: a, loaded: now}
	s.mu.Lock()
	// An invalidation while the database was read may concern what was
	// read: then this request uses it, but the cache does not keep it.
	if s.gen == gen {
		s.cache.Add(key, c)
	}
	s.mu.Unlock()
	return c, nil
}

// SignOut ends a session.
func (s *Service) SignOut(ctx context.Context, cur *Current) error {
	// Deleted first, forgotten after: a request reading the session in
	// between cannot leave it in the cache (see gen).
	err := s.st.DeleteSession(ctx, cur.Session.TokenHash)
	s.invalidate(cur.Session.TokenHash)
	return err
}

// Cleanup deletes expired sessions.
func (s *Service) Cleanup(ctx context.Context) error {
	now := s.cfg.Now()
	_, err := s.st.DeleteExpiredSessions(ctx, now, now.Add(-s.cfg.SessionIdle))
	return err
}

func (s *Service) forget(key [sha256.Size]byte) {
	s.mu.Lock()
	s.cache.Remove(key)
	s.gen++
	s.mu.Unlock()
}

func (s *Service) forgetAll() {
	s.mu.Lock()
	s.cache.Purge()
	s.gen++
	s.mu.Unlock()
}
