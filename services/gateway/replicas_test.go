package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/gateway"
)

// fanOutBound is how soon a replica must forget a session another replica
// ended while the broker is up (docs/messaging.md, "Caches across
// replicas"). The replicas' clocks are frozen, so a cached session never
// reaches its TTL: only the fan-out can meet the bound.
const fanOutBound = 3 * time.Second

// Two gateway replicas on one database: a sign-out and an account disabled
// through one end the session on the other within fanOutBound (issue 16,
// point 8).
func TestReplicasForgetEndedSessions(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		b, dsn := testenv.NewBroker(t), testenv.DSNOn(t, engine)
		a := newEnvOn(t, b, dsn)
		other := newEnvOn(t, b, dsn)
		// on returns c's session as a client of the other replica.
		on := func(c *client) *client {
			o := other.client()
			o.cookies[gateway.SessionCookie] = c.cookies[gateway.SessionCookie]
			return o
		}
		signedIn := func(c *client, want bool) func() error {
			return func() error {
				res := on(c).do("GET", "/staff/", nil, http.Header{"Accept": {"application/json"}})
				if got := res.StatusCode == http.StatusOK; got != want {
					return fmt.Errorf("the other replica answers %d to the session (signed in: %v, want %v)", res.StatusCode, got, want)
				}
				return nil
			}
		}

		mike := a.staff("mike", "manager")
		ann := a.staff("ann", "admin")
		mia := a.staff("mia", "manager")
		a.clock.Freeze()
		other.clock.Freeze()
		for _, c := range []*client{mike, ann, mia} {
			testenv.Eventually(t, fanOutBound, signedIn(c, true)) // now cached by the other replica
		}

		if res := mike.form("/staff/logout", url.Values{"csrf_token": {mike.csrf}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign out through the first replica: %d %s", res.StatusCode, res.body)
		}
		testenv.Eventually(t, fanOutBound, signedIn(mike, false))

		if res := ann.form("/staff/admin/staff/"+mia.id, url.Values{"csrf_token": {ann.csrf}, "role": {"manager"}, "disabled": {"1"}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("disable through the first replica: %d %s", res.StatusCode, res.body)
		}
		testenv.Eventually(t, fanOutBound, signedIn(mia, false))
		testenv.Eventually(t, fanOutBound, signedIn(ann, true))
	})
}
