package inbox_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// BenchmarkDrain drains a backlog of b.N messages of 100 keys, all waiting
// before the inbox starts, with the default workers and batch size: the
// inbox of a consumer that fell behind, whose batches are full. The handler
// writes one row. It reports messages a second, the test process's CPU
// (the inbox and the embedded broker) per message and, on PostgreSQL, the
// statements per message and their execution time (pg_stat_statements).
//
//	go test -run '^$' -bench Drain -benchtime 5000x ./platform/inbox/
func BenchmarkDrain(b *testing.B) {
	for _, e := range testenv.Engines() {
		b.Run(string(e), func(b *testing.B) { benchmarkDrain(b, e) })
	}
}

func benchmarkDrain(b *testing.B, e sqldb.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db := testenv.DBOn(b, e, effectMigrations)
	js := newStream(ctx, b, "inbox-drain-bench")
	for i := range b.N {
		msg := nats.NewMsg("fabrika.test.drain")
		msg.Header.Set("Nats-Msg-Id", fmt.Sprint("m-", i))
		msg.Header.Set("Fabrika-Key", fmt.Sprint("k-", i%100))
		msg.Data = []byte(`{}`)
		if _, err := js.PublishMsgAsync(msg); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("publishing the backlog did not finish")
	}
	var done atomic.Int64
	all := make(chan struct{})
	in := newInbox(b, db, js, inbox.Config{}, nil)
	in.Subscribe("drain", map[string]inbox.Handler{
		"fabrika.test.drain": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			tx.AfterCommit(func() {
				if done.Add(1) == int64(b.N) {
					close(all)
				}
			})
			_, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, 'x')`, m.ID)
			return err
		},
	})
	var stats *statements
	if e == sqldb.Postgres {
		stats, _ = countStatements(ctx, db) // nil when pg_stat_statements is not loaded
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	cpu0 := cpu()
	b.ResetTimer()
	go func() { ran <- in.Run(runCtx) }()
	select {
	case <-all:
	case <-ctx.Done():
		b.Fatalf("drained %d of %d messages", done.Load(), b.N)
	}
	b.StopTimer()
	used := cpu() - cpu0
	stop()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-us/msg")
	if stats != nil {
		calls, exec, _, err := stats.since(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(calls)/float64(b.N), "stmts/msg")
		b.ReportMetric(float64(exec.Microseconds())/float64(b.N), "pg-exec-us/msg")
	}
}
