package inbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// The dead-letter counter has its series from the start, at zero, so that
// the first dead letter after a start is an increase; and the gauge of open
// dead letters, read from the database, still says 1 after a restart until
// a person replays or discards the letter.
func TestDeadLetterMetricsFromStartAndAcrossRestarts(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := testenv.DBOn(t, e, effectMigrations)
		start := func() (*inbox.Inbox, *prometheus.Registry) {
			reg := prometheus.NewRegistry()
			in := newInbox(t, db, nil, inbox.Config{}, reg)
			in.Subscribe("things", map[string]inbox.Handler{})
			return in, reg
		}
		expect := func(reg *prometheus.Registry, counter, open string) {
			t.Helper()
			want := `
# HELP fabrika_inbox_dead_letters_open Dead letters not yet replayed or discarded, from the database.
# TYPE fabrika_inbox_dead_letters_open gauge
fabrika_inbox_dead_letters_open{consumer="svc-things"} ` + open + `
# HELP fabrika_inbox_dead_letters_total Messages dead-lettered: they need a person.
# TYPE fabrika_inbox_dead_letters_total counter
fabrika_inbox_dead_letters_total{consumer="svc-things"} ` + counter + `
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "fabrika_inbox_dead_letters_total", "fabrika_inbox_dead_letters_open"); err != nil {
				t.Error(err)
			}
		}
		in, reg := start()
		expect(reg, "0", "0")
		msg := inbox.Message{ID: "m-1", Subject: "fabrika.test.thing", Key: "k", Payload: []byte(`{}`)}
		if err := in.StoreDeadLetter(ctx, "svc-things", msg, errors.New("handler gave up")); err != nil {
			t.Fatal(err)
		}
		expect(reg, "1", "1")
		// kill -9 and start again: the counter starts at zero, the gauge
		// still sees the open letter.
		in, reg = start()
		expect(reg, "0", "1")
		letters, err := inbox.ListDeadLetters(ctx, db, "open", 10)
		if err != nil || len(letters) != 1 {
			t.Fatalf("open dead letters %v (%v)", letters, err)
		}
		if err := in.Discard(ctx, letters[0].ID); err != nil {
			t.Fatal(err)
		}
		expect(reg, "0", "0")
	})
}
