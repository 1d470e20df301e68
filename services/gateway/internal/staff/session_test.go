package staff

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/password"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/gateway/internal/store"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

// testClock is a time that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	sv    *Service
	st    *store.Store
	clock *testClock
}

const pw = "a long enough password"

func newFixture(t *testing.T) fixture {
	t.Helper()
	st := store.New(testenv.DB(t, migrations.FS))
	clock := &testClock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	sv, err := New(st, Config{CacheTTL: 5 * time.Second, SessionTTL: time.Hour, SessionIdle: 30 * time.Minute,
		Password: password.Params{Memory: 64, Time: 1, Threads: 1}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{sv: sv, st: st, clock: clock}
}

// signIn creates an account (once) and opens a session, read once through
// Session so that it sits in the cache.
func (f fixture) signIn(t *testing.T, login, role string, ws ...string) (string, *Current) {
	t.Helper()
	ctx := t.Context()
	if _, err := f.st.AccountByLogin(ctx, login); errors.Is(err, store.ErrNotFound) {
		if _, err := f.sv.Create(ctx, login, pw, role, ws); err != nil {
			t.Fatal(err)
		}
	}
	tok, _, err := f.sv.SignIn(ctx, login, pw, "127.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := f.sv.Session(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	return tok, cur
}

// TestSessionCacheInvalidation: whatever ends a session or changes an
// account through this instance applies to the very next request, however
// fresh the cached session; what another instance does (a row deleted
// behind this one's back) applies within CacheTTL, and expiry always.
func TestSessionCacheInvalidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		act    func(ctx context.Context, f fixture, cur *Current) error
		mine   string // what the acting session's next read gives: "gone", "kept", or a role
		others string // the same for another session of the account
	}{
		{name: "sign-out", act: func(ctx context.Context, f fixture, cur *Current) error { return f.sv.SignOut(ctx, cur) },
			mine: "gone", others: "kept"},
		{name: "role change", act: func(ctx context.Context, f fixture, cur *Current) error {
			return f.sv.Update(ctx, cur.Account.ID, RoleOperator, []string{"WS-1"}, false)
		}, mine: RoleOperator, others: RoleOperator},
		{name: "disabled", act: func(ctx context.Context, f fixture, cur *Current) error {
			return f.sv.Update(ctx, cur.Account.ID, RoleManager, nil, true)
		}, mine: "gone", others: "gone"},
		{name: "password reset", act: func(ctx context.Context, f fixture, cur *Current) error {
			return f.sv.ResetPassword(ctx, cur.Account.ID, "reset by the admin")
		}, mine: "gone", others: "gone"},
		{name: "own password change", act: func(ctx context.Context, f fixture, cur *Current) error {
			return f.sv.ChangePassword(ctx, cur, pw, "a new long password")
		}, mine: "kept", others: "gone"},
		{name: "expiry", act: func(ctx context.Context, f fixture, cur *Current) error {
			f.clock.Advance(time.Hour) // SessionTTL: past ExpiresAt
			return nil
		}, mine: "gone", others: "gone"},
		{name: "sign-out elsewhere, within CacheTTL", act: func(ctx context.Context, f fixture, cur *Current) error {
			return f.st.DeleteSession(ctx, cur.Session.TokenHash)
		}, mine: "kept", others: "kept"},
		{name: "sign-out elsewhere, after CacheTTL", act: func(ctx context.Context, f fixture, cur *Current) error {
			f.clock.Advance(5 * time.Second)
			return f.st.DeleteSession(ctx, cur.Session.TokenHash)
		}, mine: "gone", others: "kept"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			login := "maria" + strconv.Itoa(i)
			tok, cur := f.signIn(t, login, RoleManager)
			other, _ := f.signIn(t, login, RoleManager)
			f.clock.Advance(time.Second) // both cached, well within CacheTTL
			if err := tc.act(t.Context(), f, cur); err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct{ who, tok, want string }{{"acting session", tok, tc.mine}, {"other session", other, tc.others}} {
				got, err := f.sv.Session(t.Context(), s.tok)
				switch {
				case s.want == "gone" && !errors.Is(err, ErrNoSession):
					t.Errorf("%s: still open (err %v)", s.who, err)
				case s.want != "gone" && err != nil:
					t.Errorf("%s: %v, want it open", s.who, err)
				case s.want != "gone" && s.want != "kept" && got.Account.Role != s.want:
					t.Errorf("%s: role %s, want %s", s.who, got.Account.Role, s.want)
				}
			}
		})
	}
}

// TestIdentityTokenReuse: a session's token is signed once per reuse time,
// also across cache reloads of an unchanged account, and again at once
// when the claims change.
func TestIdentityTokenReuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	signed := 0
	const reuse = 20 * time.Second
	token := func(cur *Current) string {
		t.Helper()
		tok, err := cur.CachedToken(f.clock.Now(), reuse, func(now time.Time) (string, error) {
			signed++
			return cur.Account.Role + "@" + now.Format(time.RFC3339Nano), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	read := func(tok string) *Current {
		t.Helper()
		cur, err := f.sv.Session(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return cur
	}
	tok, cur := f.signIn(t, "maria", RoleManager)
	first := token(cur)
	steps := []struct {
		name    string
		advance time.Duration
		change  bool // make maria an operator before reading
		same    bool // the token of the previous step is reused
		signed  int
	}{
		{name: "next request", advance: time.Second, same: true, signed: 1},
		{name: "cache reloaded, same account", advance: 6 * time.Second, same: true, signed: 1},
		{name: "reloaded again, still within the reuse time", advance: 6 * time.Second, same: true, signed: 1},
		{name: "past the reuse time", advance: 8 * time.Second, same: false, signed: 2},
		{name: "role changed", advance: time.Second, change: true, same: false, signed: 3},
		{name: "after the change", advance: time.Second, same: true, signed: 3},
	}
	prev := first
	for _, s := range steps {
		f.clock.Advance(s.advance)
		if s.change {
			if err := f.sv.Update(ctx, cur.Account.ID, RoleOperator, []string{"WS-1"}, false); err != nil {
				t.Fatal(err)
			}
		}
		got := token(read(tok))
		if (got == prev) != s.same || signed != s.signed {
			t.Errorf("%s: token %q after %q (same %v, want %v), %d signatures, want %d", s.name, got, prev, got == prev, s.same, signed, s.signed)
		}
		prev = got
	}
	if want := RoleOperator + "@"; prev[:len(want)] != want {
		t.Errorf("token after the role change: %q", prev)
	}
}

// TestCachedTokenSignError: a failed signature is returned and not kept.
func TestCachedTokenSignError(t *testing.T) {
	t.Parallel()
	c := &Current{}
	now := time.Unix(1_000_000, 0)
	boom := errors.New("no key")
	if _, err := c.CachedToken(now, time.Minute, func(time.Time) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	tok, err := c.CachedToken(now, time.Minute, func(time.Time) (string, error) { return "t1", nil })
	if err != nil || tok != "t1" {
		t.Fatalf("after a failure: %q %v", tok, err)
	}
	// A clock that went back does not make an old token look fresh.
	tok, _ = c.CachedToken(now.Add(-time.Second), time.Minute, func(time.Time) (string, error) { return "t2", nil })
	if tok != "t2" {
		t.Errorf("clock went back: token %q, want a new one", tok)
	}
}
