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
//     difference is recorded (p50, p99);
//   - beside it, the broker's share: the same rate published straight to
//     JetStream and received by a consumer configured as the inbox's, no
//     database (on R3 a message waits for two replication rounds before a
//     consumer gets it: the stream's, then the consumer's delivered state).
//
// Usage:
//
//	relaybench -dsn postgres://postgres@127.0.0.1:5432/relaybench -n 50000 -rate 1000
//	relaybench -dsn /tmp/relaybench.db            # SQLite
//
// -nats empty starts an embedded JetStream server (file store in a temporary
// directory), as `fabrika` does. -cluster instead starts a 3-node JetStream
// cluster of the pinned nats-server (cmd/internal/natscluster, the broker of
// `go run ./cmd/cluster`) with the stream at R3:
//
//	go run ./cmd/relaybench -cluster -dsn postgres://... -recv-dsn postgres://...
//
// -nats URL with -replicas 3 measures a running cluster instead (the
// stream FABRIKA is deleted and created again: never point it at one that
// holds data).
package main

import (
	"context"
	"encoding/json"
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

	"github.com/fabrika/fabrika/cmd/internal/natscluster"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
)

type config struct {
	dsn, recvDSN, natsURL string
	n, rawN, keys         int
	rate                  int
	seconds, warmup       int
	replicas              int
	cluster               int // nodes of a local JetStream cluster to start (0: none)
	clusterPort           int
	cpuProfile            string
	latencyProfile        string
	timeline              string
	inbox                 inbox.Config // the receiver's Workers and BatchSize (0: the defaults)
}

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", filepath.Join(os.TempDir(), "relaybench.db"), "sender database DSN (SQLite path or postgres://...)")
	flag.StringVar(&c.recvDSN, "recv-dsn", "", "receiver database DSN for the latency run (default: a second SQLite file, or -dsn for PostgreSQL)")
	flag.StringVar(&c.natsURL, "nats", "", "JetStream URL; empty starts an embedded server (or a cluster with -cluster)")
	clustered := flag.Bool("cluster", false, "start a local 3-node JetStream cluster of the pinned nats-server, the stream at R3")
	flag.IntVar(&c.clusterPort, "cluster-port", 0, "first port of the -cluster nodes (0: the first free range from 24400)")
	flag.IntVar(&c.replicas, "replicas", 0, "the stream's replicas (default 1, 3 with -cluster)")
	flag.IntVar(&c.n, "n", 50000, "messages for the relay throughput run and the publish loop")
	flag.IntVar(&c.rawN, "raw-n", 20000, "rows for the insert+commit loop")
	flag.IntVar(&c.keys, "keys", 1000, "distinct keys (aggregates) of the messages")
	flag.IntVar(&c.rate, "rate", 1000, "messages per second for the latency run")
	flag.IntVar(&c.seconds, "seconds", 10, "length of the latency run")
	flag.IntVar(&c.warmup, "warmup", 2, "seconds of the latency run's rate sent before it, not measured (connections opened, statements prepared, caches warm)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the relay throughput run to this file")
	flag.StringVar(&c.latencyProfile, "latency-cpuprofile", "", "write a CPU profile of the latency run to this file")
	flag.IntVar(&c.inbox.Workers, "inbox-workers", 0, "the receiving inbox's workers (0: its default)")
	flag.IntVar(&c.inbox.BatchSize, "inbox-batch", 0, "the receiving inbox's batch size (0: its default)")
	flag.StringVar(&c.timeline, "timeline", "", "write each latency-run message's stage times (CSV, Unix ns) to this file")
	flag.Parse()
	if *clustered {
		c.cluster = 3
	}
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
	var inProcess nats.InProcessConnProvider // nil with an external NATS (not a nil *server.Server)
	if c.cluster > 0 && c.natsURL != "" {
		return errors.New("-cluster starts its own NATS: leave -nats empty")
	}
	if c.cluster > 0 {
		cl, err := startCluster(ctx, c.cluster, c.clusterPort, w)
		if err != nil {
			return err
		}
		defer os.RemoveAll(cl.Dir)
		defer cl.Stop()
		c.natsURL = cl.URL()
		if c.replicas == 0 {
			c.replicas = cl.StreamReplicas()
		}
	}
	c.replicas = max(c.replicas, 1)
	if c.natsURL == "" {
		var stop func()
		var err error
		if srv, stop, err = embedded.StartTemp(); err != nil {
			return err
		}
		defer stop()
		inProcess = srv
	}
	conn := func(name string) (*nats.Conn, jetstream.JetStream, error) {
		nc, err := broker.Connect(c.natsURL, inProcess, name, log)
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
	st, err := broker.EnsureStream(ctx, js, c.replicas)
	if err != nil {
		return err
	}
	if got := st.CachedInfo().Config.Replicas; got != c.replicas {
		return fmt.Errorf("stream at R%d, want R%d", got, c.replicas)
	}
	db, err := openClean(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(w, "engine=%s broker=%s stream=R%d n=%d raw-n=%d keys=%d\n", db.Engine(), brokerName(c.natsURL), c.replicas, c.n, c.rawN, c.keys)

	rawDB, err := rawInsert(ctx, db, c.rawN)
	if err != nil {
		return fmt.Errorf("insert loop: %w", err)
	}
	fmt.Fprintf(w, "insert+commit loop (1 row/tx):      %8.0f msg/s\n", rawDB)

	rawJS, err := rawPublish(ctx, js, c.n)
	if err != nil {
		return fmt.Errorf("publish loop: %w", err)
	}
	fmt.Fprintf(w, "JetStream async publish loop (R%d):  %8.0f msg/s\n", c.replicas, rawJS)

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
	rnc, rjs, err := conn("relaybench-receiver")
	if err != nil {
		return err
	}
	defer rnc.Close()
	floor, err := consumeFloor(ctx, c, js, rjs)
	if err != nil {
		return fmt.Errorf("publish-to-consume loop: %w", err)
	}
	lat, err := latency(ctx, c, db, recvDB, js, rjs, log)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Fprintf(w, "latency at %d msg/s (achieved %.0f/s, %d msgs):\n", c.rate, lat.achieved, lat.count)
	fmt.Fprintf(w, "  commit-to-handled:                %s\n", lat.fromCommit)
	fmt.Fprintf(w, "  enqueue-to-handled:               %s\n", lat.total)
	fmt.Fprintf(w, "    producer enqueue to commit:     %s\n", lat.commit)
	fmt.Fprintf(w, "    relay commit to stream:         %s\n", lat.relay)
	fmt.Fprintf(w, "    receiver stream to inbox commit:%s\n", lat.receive)
	fmt.Fprintf(w, "      stream to inbox (delivery):   %s\n", lat.deliver)
	fmt.Fprintf(w, "      inbox to handler (queue, tx): %s\n", lat.queue)
	fmt.Fprintf(w, "      handler to commit:            %s\n", lat.commitIn)
	fmt.Fprintf(w, "  JetStream publish-to-consume, no database (R%d, a consumer as the inbox's):\n", c.replicas)
	fmt.Fprintf(w, "                                    %s\n", floor)
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

// rawPublish publishes n messages asynchronously, at most 1024 awaiting
// acknowledgement, and waits for every acknowledgement: the broker's
// ceiling. Each message is what the relay publishes (the same payload,
// headers and kind of message id), without a database.
func rawPublish(ctx context.Context, js jetstream.JetStream, n int) (float64, error) {
	msgs := make([]*nats.Msg, n)
	ids := make([]string, n)
	for i := range n {
		om, err := outbox.NewMessage("fabrika.bench.raw", fmt.Sprint("key-", i%1000), benchItem{Seq: i})
		if err != nil {
			return 0, err
		}
		m := nats.NewMsg(om.Subject)
		m.Data = om.Payload
		m.Header.Set(outbox.HeaderKey, om.Key)
		m.Header.Set(outbox.HeaderCreated, om.CreatedAt.Format(time.RFC3339Nano))
		msgs[i], ids[i] = m, om.ID
	}
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
	for i, m := range msgs {
		f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(ids[i]))
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
	stopProfile, err := startProfile(c.cpuProfile)
	if err != nil {
		return 0, err
	}
	defer stopProfile()
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
	count    int
	achieved float64
	// total runs from just before the enqueue to the inbox's commit; the
	// stages split it: the producer's transaction (enqueue to commit), the
	// relay (commit to the stream's timestamp of the message) and the
	// receiver (stream timestamp to the inbox's commit), which splits in
	// the broker's delivery (to the inbox taking it), the inbox's wait
	// (its worker queue, the transaction's begin and inbox row) and the
	// handler's commit.
	total, commit, relay, receive dist
	deliver, queue, commitIn      dist
	fromCommit                    dist // commit to the inbox's commit: the target
}

type dist struct{ p50, p99, max time.Duration }

func distOf(d []time.Duration) dist {
	slices.Sort(d)
	pct := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return dist{p50: pct(0.50), p99: pct(0.99), max: d[len(d)-1]}
}

func (d dist) String() string {
	return fmt.Sprintf("p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms", ms(d.p50), ms(d.p99), ms(d.max))
}

// latency sends rate messages a second for the configured seconds, each in
// its own committed transaction, through a running relay and inbox, and
// measures each stage from just before the enqueue to the inbox's commit.
func latency(ctx context.Context, c config, sendDB, recvDB *sqldb.DB, sjs, rjs jetstream.JetStream, log *slog.Logger) (latencies, error) {
	out, err := outbox.New(sendDB, sjs, outbox.Config{}, log, nil)
	if err != nil {
		return latencies{}, err
	}
	icfg := c.inbox
	icfg.Service = "relaybench"
	in, err := inbox.New(recvDB, rjs, icfg, log, nil, noop.NewTracerProvider())
	if err != nil {
		return latencies{}, err
	}
	skip := c.rate * c.warmup // the warm-up's messages, not measured
	total := skip + c.rate*c.seconds
	sentAt := make([]atomic.Int64, total)      // Unix ns before the enqueue
	committedAt := make([]atomic.Int64, total) // Unix ns after the producer's commit
	publishedAt := make([]int64, total)        // stream timestamp
	handledAt := make([]int64, total)          // after the inbox's commit
	receivedAt := make([]int64, total)         // the inbox took it from the broker
	startedAt := make([]int64, total)          // the handler ran
	var mu sync.Mutex
	handled := 0
	all := make(chan struct{})
	in.Subscribe("latency", map[string]inbox.Handler{
		"fabrika.bench.latency": inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, it benchItem) error {
			if it.Seq < 0 || it.Seq >= total {
				return fmt.Errorf("%w: sequence %d out of range", inbox.ErrPermanent, it.Seq)
			}
			started := time.Now().UnixNano()
			tx.AfterCommit(func() {
				now := time.Now().UnixNano()
				mu.Lock()
				defer mu.Unlock()
				if handledAt[it.Seq] != 0 {
					return
				}
				handledAt[it.Seq], publishedAt[it.Seq] = now, m.Published.UnixNano()
				receivedAt[it.Seq], startedAt[it.Seq] = m.Received.UnixNano(), started
				if handled++; handled == total {
					close(all)
				}
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

	stopProfile, err := startProfile(c.latencyProfile)
	if err != nil {
		return latencies{}, err
	}
	defer stopProfile()
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
				sentAt[i].Store(time.Now().UnixNano())
				err := sendDB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
					m, err := outbox.NewMessage("fabrika.bench.latency", fmt.Sprint("key-", i%c.keys), benchItem{Seq: i, SentAt: sentAt[i].Load()})
					if err != nil {
						return err
					}
					return out.Enqueue(ctx, tx, m)
				})
				committedAt[i].Store(time.Now().UnixNano())
				if err != nil {
					sendErr.Store(err)
					return
				}
			}
		})
	}
	producers.Wait()
	sent := time.Since(start.Add(time.Duration(skip) * interval))
	if err, _ := sendErr.Load().(error); err != nil {
		return latencies{}, err
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		mu.Lock()
		n := handled
		mu.Unlock()
		return latencies{}, fmt.Errorf("only %d of %d handled after 60s", n, total)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	if c.timeline != "" {
		f, err := os.Create(c.timeline)
		if err != nil {
			return latencies{}, err
		}
		fmt.Fprintln(f, "seq,sent_ns,committed_ns,published_ns,received_ns,started_ns,handled_ns")
		for i := range total {
			fmt.Fprintf(f, "%d,%d,%d,%d,%d,%d,%d\n", i, sentAt[i].Load(), committedAt[i].Load(), publishedAt[i], receivedAt[i], startedAt[i], handledAt[i])
		}
		if err := f.Close(); err != nil {
			return latencies{}, err
		}
	}
	stage := func(from, to func(i int) int64) dist {
		d := make([]time.Duration, total-skip)
		for i := range d {
			d[i] = time.Duration(to(skip+i) - from(skip+i))
		}
		return distOf(d)
	}
	sentF := func(i int) int64 { return sentAt[i].Load() }
	commitF := func(i int) int64 { return committedAt[i].Load() }
	pubF := func(i int) int64 { return publishedAt[i] }
	handledF := func(i int) int64 { return handledAt[i] }
	receivedF := func(i int) int64 { return receivedAt[i] }
	startedF := func(i int) int64 { return startedAt[i] }
	return latencies{
		count: total - skip, achieved: float64(total-skip) / sent.Seconds(),
		total: stage(sentF, handledF), fromCommit: stage(commitF, handledF),
		commit: stage(sentF, commitF), relay: stage(commitF, pubF), receive: stage(pubF, handledF),
		deliver: stage(pubF, receivedF), queue: stage(receivedF, startedF), commitIn: stage(startedF, handledF),
	}, nil
}

// consumeFloor is the broker's share of commit-to-handled, measured beside
// it: messages published asynchronously at the latency run's rate, each
// timed from just before its publish until a durable pull consumer
// configured as the inbox's (explicit ack, the stream's replicas) receives
// it; no database on either side.
func consumeFloor(ctx context.Context, c config, sjs, rjs jetstream.JetStream) (dist, error) {
	const subject = "fabrika.bench.floor"
	cons, err := rjs.CreateOrUpdateConsumer(ctx, broker.StreamName, jetstream.ConsumerConfig{
		Durable: "relaybench-floor", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 4096, FilterSubject: subject,
	})
	if err != nil {
		return dist{}, err
	}
	defer func() { _ = rjs.DeleteConsumer(context.WithoutCancel(ctx), broker.StreamName, "relaybench-floor") }()
	skip := c.rate * c.warmup
	total := skip + c.rate*c.seconds
	got := make([]time.Duration, total)
	var received atomic.Int64
	all := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var it benchItem
		if err := json.Unmarshal(m.Data(), &it); err == nil && it.Seq >= 0 && it.Seq < total && got[it.Seq] == 0 {
			got[it.Seq] = time.Duration(time.Now().UnixNano() - it.SentAt)
			if received.Add(1) == int64(total) {
				close(all)
			}
		}
		_ = m.Ack()
	}, jetstream.PullMaxMessages(256))
	if err != nil {
		return dist{}, err
	}
	defer cc.Stop()
	interval := time.Second / time.Duration(c.rate)
	start := time.Now()
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		om, err := outbox.NewMessage(subject, fmt.Sprint("key-", i%c.keys), benchItem{Seq: i, SentAt: time.Now().UnixNano()})
		if err != nil {
			return dist{}, err
		}
		m := nats.NewMsg(om.Subject)
		m.Data = om.Payload
		if _, err := sjs.PublishMsgAsync(m, jetstream.WithMsgID(om.ID)); err != nil {
			return dist{}, err
		}
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		return dist{}, fmt.Errorf("only %d of %d received after 60s", received.Load(), total)
	}
	return distOf(got[skip:]), nil
}

// startProfile starts a CPU profile into path, if one is asked for, and
// returns what stops it.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// startCluster builds the pinned nats-server and starts a JetStream cluster
// of nodes nodes in a temporary directory.
func startCluster(ctx context.Context, nodes, port int, w io.Writer) (*natscluster.Cluster, error) {
	dir, err := os.MkdirTemp("", "relaybench-cluster-")
	if err != nil {
		return nil, err
	}
	bin, err := natscluster.Build(ctx, "", dir)
	if err == nil && port == 0 {
		port, err = natscluster.FreeBase(24400)
	}
	var c *natscluster.Cluster
	if err == nil {
		c, err = natscluster.Start(ctx, natscluster.Layout{Nodes: nodes, BasePort: port, Dir: dir}, bin, time.Minute)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	fmt.Fprintf(w, "started a %d-node JetStream cluster (pinned nats-server) at %s, stores in %s (removed at the end)\n", nodes, c.URL(), dir)
	return c, nil
}
