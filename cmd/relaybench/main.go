// Command relaybench measures the reliable-messaging path on a real
// database and JetStream (docs/BENCHMARKS.md, "Messaging"):
//
//   - the raw ceilings: a loop of one-row insert+commit transactions of
//     outbox rows on the database, and a bare asynchronous JetStream publish
//     loop (acknowledged, with message ids);
//   - relay throughput: n messages enqueued beforehand, time until JetStream
//     acknowledged them all and the relay deleted them;
//   - commit-to-handled latency at a steady rate: each message carries the
//     time of its enqueue; the inbox handler's transaction commits and the
//     difference is recorded (p50, p99).
//
// Usage:
//
//	relaybench -dsn postgres://postgres@127.0.0.1:5432/relaybench -n 50000 -rate 1000
//	relaybench -dsn /tmp/relaybench.db            # SQLite
//
// -nats empty starts an embedded JetStream server (file store in a temporary
// directory), as `fabrika` does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
)

type config struct {
	dsn, recvDSN, natsURL string
	n, rawN, keys         int
	rate                  int
	seconds               int
	cpuProfile            string
}

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", filepath.Join(os.TempDir(), "relaybench.db"), "sender database DSN (SQLite path or postgres://...)")
	flag.StringVar(&c.recvDSN, "recv-dsn", "", "receiver database DSN for the latency run (default: a second SQLite file, or -dsn for PostgreSQL)")
	flag.StringVar(&c.natsURL, "nats", "", "JetStream URL; empty starts an embedded server")
	flag.IntVar(&c.n, "n", 50000, "messages for the relay throughput run and the publish loop")
	flag.IntVar(&c.rawN, "raw-n", 20000, "rows for the insert+commit loop")
	flag.IntVar(&c.keys, "keys", 1000, "distinct keys (aggregates) of the messages")
	flag.IntVar(&c.rate, "rate", 1000, "messages per second for the latency run")
	flag.IntVar(&c.seconds, "seconds", 10, "length of the latency run")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the relay run to this file")
	flag.Parse()
	if err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "relaybench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, w io.Writer) error {
	if c.recvDSN == "" {
		c.recvDSN = c.dsn
		if !strings.HasPrefix(c.dsn, "postgres") {
			c.recvDSN = strings.TrimSuffix(c.dsn, ".db") + "-recv.db"
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var srv *server.Server
	if c.natsURL == "" {
		dir, err := os.MkdirTemp("", "relaybench-nats-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if srv, err = broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: dir}); err != nil {
			return err
		}
		defer srv.Shutdown()
	}
	conn := func(name string) (*nats.Conn, jetstream.JetStream, error) {
		nc, err := broker.Connect(c.natsURL, srv, name, log)
		if err != nil {
			return nil, nil, err
		}
		js, err := jetstream.New(nc)
		return nc, js, err
	}
	nc, js, err := conn("relaybench")
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := js.DeleteStream(ctx, broker.StreamName); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	if _, err := broker.EnsureStream(ctx, js, 1); err != nil {
		return err
	}
	db, err := openClean(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(w, "engine=%s broker=%s n=%d raw-n=%d keys=%d\n", db.Engine(), brokerName(c.natsURL), c.n, c.rawN, c.keys)

	rawDB, err := rawInsert(ctx, db, c.rawN)
	if err != nil {
		return fmt.Errorf("insert loop: %w", err)
	}
	fmt.Fprintf(w, "insert+commit loop (1 row/tx):      %8.0f msg/s\n", rawDB)

	rawJS, err := rawPublish(ctx, js, c.n)
	if err != nil {
		return fmt.Errorf("publish loop: %w", err)
	}
	fmt.Fprintf(w, "JetStream async publish loop:       %8.0f msg/s\n", rawJS)

	relay, err := relayThroughput(ctx, c, db, js, log)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	fmt.Fprintf(w, "relay outbox -> JetStream ack:      %8.0f msg/s  (%.2fx the insert loop, %.2fx the publish loop)\n", relay, relay/rawDB, relay/rawJS)

	recvDB := db
	if c.recvDSN != c.dsn {
		if recvDB, err = openClean(ctx, c.recvDSN); err != nil {
			return err
		}
		defer recvDB.Close()
	}
	_, rjs, err := conn("relaybench-receiver")
	if err != nil {
		return err
	}
	lat, err := latency(ctx, c, db, recvDB, js, rjs, log)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Fprintf(w, "commit-to-handled at %d msg/s (achieved %.0f/s, %d msgs): p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
		c.rate, lat.achieved, lat.count, ms(lat.p50), ms(lat.p99), ms(lat.max))
	return nil
}

func brokerName(url string) string {
	if url == "" {
		return "embedded"
	}
	return url
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// openClean opens and migrates a database and empties the platform's tables.
func openClean(ctx context.Context, dsn string) (*sqldb.DB, error) {
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, nil); err != nil {
		db.Close()
		return nil, err
	}
	for _, table := range []string{"outbox", "inbox", "dead_letter"} {
		if _, err := db.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			db.Close()
			return nil, err
		}
	}
	if db.Engine() == sqldb.Postgres {
		_, _ = db.ExecContext(ctx, `VACUUM ANALYZE outbox`)
	}
	return db, nil
}

// rawInsert inserts n outbox rows, one transaction each, as Enqueue does,
// and deletes them again.
func rawInsert(ctx context.Context, db *sqldb.DB, n int) (float64, error) {
	payload := `{"order_id":"0194b1c2-0000-7000-8000-000000000000","seq":1,"sent_at":0}`
	start := time.Now()
	for i := range n {
		err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, subject, msg_key, payload, headers, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
				fmt.Sprintf("raw-%09d", i), "fabrika.bench.raw", fmt.Sprint("k", i%1000), payload, `{}`, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return 0, err
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	_, err := db.ExecContext(ctx, `DELETE FROM outbox`)
	return rate, err
}

// rawPublish publishes n messages asynchronously with message ids, at most
// 1024 awaiting acknowledgement, and waits for every acknowledgement.
func rawPublish(ctx context.Context, js jetstream.JetStream, n int) (float64, error) {
	payload := []byte(`{"order_id":"0194b1c2-0000-7000-8000-000000000000","seq":1,"sent_at":0}`)
	start := time.Now()
	futs := make(chan jetstream.PubAckFuture, 1024)
	errc := make(chan error, 1)
	go func() {
		var first error
		for f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				if first == nil {
					first = err
				}
			}
		}
		errc <- first
	}()
	for i := range n {
		m := nats.NewMsg("fabrika.bench.raw")
		m.Data = payload
		f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(fmt.Sprintf("raw-%09d", i)))
		if err != nil {
			close(futs)
			<-errc
			return 0, err
		}
		futs <- f
	}
	close(futs)
	if err := <-errc; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

type benchItem struct {
	Seq    int   `json:"seq"`
	SentAt int64 `json:"sent_at"` // Unix nanoseconds, just before the enqueue
}

// Validate makes benchItem an inbox.JSON payload.
func (benchItem) Validate() error { return nil }

// relayThroughput enqueues n messages, then runs a relay and measures the
// time until the outbox is empty: every message acknowledged by JetStream
// and deleted.
func relayThroughput(ctx context.Context, c config, db *sqldb.DB, js jetstream.JetStream, log *slog.Logger) (float64, error) {
	out, err := outbox.New(db, js, outbox.Config{}, log, nil)
	if err != nil {
		return 0, err
	}
	const perTx = 500
	for i := 0; i < c.n; i += perTx {
		err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			for j := i; j < min(i+perTx, c.n); j++ {
				m, err := outbox.NewMessage("fabrika.bench.relay", fmt.Sprint("key-", j%c.keys), benchItem{Seq: j})
				if err != nil {
					return err
				}
				if err := out.Enqueue(ctx, tx, m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if db.Engine() == sqldb.Postgres {
		_, _ = db.ExecContext(ctx, `ANALYZE outbox`)
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- out.Run(runCtx) }()
	for {
		var left int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&left); err != nil {
			stop()
			return 0, err
		}
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stop()
	if err := <-done; err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, broker.StreamName)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("fabrika.bench.relay"))
	if err != nil {
		return 0, err
	}
	if got := info.State.Subjects["fabrika.bench.relay"]; got != uint64(c.n) {
		return 0, fmt.Errorf("stream holds %d relayed messages, want %d", got, c.n)
	}
	return float64(c.n) / elapsed.Seconds(), nil
}

type latencies struct {
	count         int
	achieved      float64
	p50, p99, max time.Duration
}

// latency sends rate messages a second for the configured seconds, each in
// its own committed transaction, through a running relay and inbox, and
// measures from just before the enqueue to the inbox's commit.
func latency(ctx context.Context, c config, sendDB, recvDB *sqldb.DB, sjs, rjs jetstream.JetStream, log *slog.Logger) (latencies, error) {
	out, err := outbox.New(sendDB, sjs, outbox.Config{}, log, nil)
	if err != nil {
		return latencies{}, err
	}
	in, err := inbox.New(recvDB, rjs, inbox.Config{Service: "relaybench"}, log, nil, noop.NewTracerProvider())
	if err != nil {
		return latencies{}, err
	}
	total := c.rate * c.seconds
	var mu sync.Mutex
	got := make([]time.Duration, 0, total)
	all := make(chan struct{})
	in.Subscribe("latency", map[string]inbox.Handler{
		"fabrika.bench.latency": inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, it benchItem) error {
			tx.AfterCommit(func() {
				d := time.Duration(time.Now().UnixNano() - it.SentAt)
				mu.Lock()
				got = append(got, d)
				if len(got) == total {
					close(all)
				}
				mu.Unlock()
			})
			return nil
		}),
	})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { _ = out.Run(runCtx) })
	wg.Go(func() { _ = in.Run(runCtx) })
	defer wg.Wait()
	time.Sleep(500 * time.Millisecond) // consumer declared and pulling

	// Producers take scheduled slots: message i is due at start + i/rate.
	interval := time.Second / time.Duration(c.rate)
	start := time.Now()
	var next atomic.Int64
	var sendErr atomic.Value
	var producers sync.WaitGroup
	for range 16 {
		producers.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				err := sendDB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
					m, err := outbox.NewMessage("fabrika.bench.latency", fmt.Sprint("key-", i%c.keys), benchItem{Seq: i, SentAt: time.Now().UnixNano()})
					if err != nil {
						return err
					}
					return out.Enqueue(ctx, tx, m)
				})
				if err != nil {
					sendErr.Store(err)
					return
				}
			}
		})
	}
	producers.Wait()
	sent := time.Since(start)
	if err, _ := sendErr.Load().(error); err != nil {
		return latencies{}, err
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		mu.Lock()
		n := len(got)
		mu.Unlock()
		return latencies{}, fmt.Errorf("only %d of %d handled after 60s", n, total)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got)
	pct := func(p float64) time.Duration { return got[min(len(got)-1, int(p*float64(len(got))))] }
	return latencies{count: total, achieved: float64(total) / sent.Seconds(), p50: pct(0.50), p99: pct(0.99), max: got[len(got)-1]}, nil
}
