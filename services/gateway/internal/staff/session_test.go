package staff

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/password"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/gateway/internal/store"
	"github.com/fabrika/fabrika/services/gateway/migrations"
)

type fixture struct {
	sv    *Service
	st    *store.Store
	clock *testenv.Clock
}

const pw = "a long enough password"

func newFixture(t *testing.T) fixture {
	t.Helper()
	db := testenv.DB(t, migrations.FS)
	st := store.New(db, nil)
	if err := db.InTx(t.Context(), func(ctx context.Context, tx *sqldb.Tx) error {
		_, err := store.ApplyWorkstations(ctx, tx, 1, []store.Workstation{{Code: "WS-1", Name: "Bench 1"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	clock := testenv.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
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
	tok, _, err := f.sv.SignIn(ctx, login, pw, "", "127.0.0.1", "test")
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

// TestSessionCacheForgetsTheLeastRecentlyUsed: a full session cache forgets
// its least recently used session, never all of them (a flood of sign-ins
// must not turn every staff request into a database read) and never grows
// past its bound. A session still cached survives a row deleted behind this
// instance's back (within CacheTTL); one forgotten is read again and found
// gone.
func TestSessionCacheForgetsTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sv, err := New(f.st, Config{CacheTTL: 5 * time.Second, CacheSize: 2, SessionTTL: time.Hour, SessionIdle: 30 * time.Minute,
		Password: password.Params{Memory: 64, Time: 1, Threads: 1}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.sv = sv
	var toks []string
	var curs []*Current
	for _, login := range []string{"anna", "boris", "clara"} {
		tok, cur := f.signIn(t, login, RoleManager)
		toks, curs = append(toks, tok), append(curs, cur)
	}
	for _, cur := range curs { // signed out on another instance
		if err := f.st.DeleteSession(t.Context(), cur.Session.TokenHash); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []string{"gone", "kept", "kept"} {
		_, err := sv.Session(t.Context(), toks[i])
		if got := map[bool]string{true: "gone", false: "kept"}[errors.Is(err, ErrNoSession)]; got != want {
			t.Errorf("session %d: %s (err %v), want %s", i, got, err, want)
		}
	}
}
