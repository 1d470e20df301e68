package outbox_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestByKey: an order's messages still in the outbox, by its key, with
// whether each waits (pending), is being published (leased) or was given up
// (error), and the trace that wrote it.
func TestByKey(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		f := newFixture(t, e, outbox.Config{MaxAttempts: 1}, true)
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{0xfa, 0xb1, 0x1c, 0xa}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
		ctx := trace.ContextWithSpanContext(context.Background(), sc)
		enqueue := func(subject, key string) string {
			t.Helper()
			m, err := outbox.NewMessage(subject, key, map[string]string{"key": key})
			if err != nil {
				t.Fatal(err)
			}
			if subject == subjectRefused {
				m.Headers = map[string]string{"Nats-Expected-Stream": "NOT-FABRIKA"}
			}
			if err := f.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error { return f.out.Enqueue(ctx, tx, m) }); err != nil {
				t.Fatal(err)
			}
			return m.ID
		}
		// The broker refuses k-err's message: with one attempt allowed it is
		// in error after one cycle. k-lease's is claimed by a relay that has
		// not published it yet; k-pend's waits for the next cycle.
		refused := enqueue(subjectRefused, "k-err")
		if _, err := f.out.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
		leased := enqueue("fabrika.test.lease", "k-lease")
		if _, err := f.out.Claim(context.Background()); err != nil {
			t.Fatal(err)
		}
		pending := enqueue("fabrika.test.pend", "k-pend")
		pending2 := enqueue("fabrika.test.pend2", "k-pend")

		admin := outbox.NewAdmin(f.db)
		for _, tc := range []struct {
			key      string
			ids      []string
			status   string
			attempts int
		}{
			{"k-err", []string{refused}, "error", 1},
			{"k-lease", []string{leased}, "leased", 0},
			{"k-pend", []string{pending, pending2}, "pending", 0},
			{"k-none", nil, "", 0},
		} {
			got, err := admin.ByKey(context.Background(), tc.key, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.ids) {
				t.Errorf("%s: %+v, want %d messages", tc.key, got, len(tc.ids))
				continue
			}
			for i, m := range got {
				if m.ID != tc.ids[i] || m.Key != tc.key || m.Status != tc.status || m.Attempts != tc.attempts || m.TraceID != sc.TraceID().String() {
					t.Errorf("%s #%d: %+v, want %s %s after %d attempts in trace %s", tc.key, i, m, tc.ids[i], tc.status, tc.attempts, sc.TraceID())
				}
			}
			if tc.status == "error" && !strings.Contains(got[0].LastError, "expected stream does not match") {
				t.Errorf("%s: last error %q, want the broker's refusal", tc.key, got[0].LastError)
			}
			if tc.status == "leased" && (got[0].LeaseOwner == "" || got[0].LeaseUntil.IsZero()) {
				t.Errorf("%s: lease %q until %s, want the relay's", tc.key, got[0].LeaseOwner, got[0].LeaseUntil)
			}
		}
	})
}
