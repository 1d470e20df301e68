package inbox_test

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

var receiverMigrations = fstest.MapFS{"00001_received.sql": {Data: []byte(`-- +goose Up
CREATE TABLE received (msg_id TEXT PRIMARY KEY, body TEXT NOT NULL);
-- +goose Down
DROP TABLE received;
`)}}

func TestSmokeOutboxToInbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := testenv.NewBroker(t)
	send, err := host.Open(ctx, testenv.HostConfig(t, "sender", nil), b.Deps(t, "sender"))
	if err != nil {
		t.Fatal(err)
	}
	recv, err := host.Open(ctx, testenv.HostConfig(t, "receiver", receiverMigrations), b.Deps(t, "receiver"))
	if err != nil {
		t.Fatal(err)
	}
	recv.Inbox.Subscribe("things", map[string]inbox.Handler{
		"fabrika.test.thing": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO received (msg_id, body) VALUES ($1, $2)`, m.ID, string(m.Payload))
			return err
		},
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- send.Run(runCtx, nil) }()
	go func() { done <- recv.Run(runCtx, nil) }()
	const n = 200
	for i := range n {
		err := send.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			m, err := outbox.NewMessage("fabrika.test.thing", fmt.Sprintf("k%d", i%7), map[string]int{"i": i})
			if err != nil {
				return err
			}
			return send.Outbox.Enqueue(ctx, tx, m)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		var got int
		if err := recv.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM received`).Scan(&got); err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("received %d of %d", got, n)
		}
		return nil
	})
	stop()
	<-done
	<-done
}
