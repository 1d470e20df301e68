package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fabrika/fabrika/platform/sqldb"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// The fault kinds, in the order they run.
const (
	kindReplica  = "replica"  // kill -9 of one replica of a service, restarted 3 s later (each service in turn)
	kindNATS     = "nats"     // kill -9 of one NATS node (the stream leader every other round), restarted
	kindPostgres = "postgres" // PostgreSQL stopped (fast shutdown) and started again
	kindRestart  = "restart"  // kill -9 of every replica and NATS node at once, everything started again
	kindRolling  = "rolling"  // a rolling update: each replica of a service in turn replaced by a fresh build
)

var allKinds = []string{kindReplica, kindNATS, kindPostgres, kindRestart, kindRolling}

type faultConfig struct {
	rate     float64
	rounds   int
	kinds    string
	settle   time.Duration
	outage   time.Duration
	retryFor time.Duration
	converge time.Duration
	recover  time.Duration
	report   string
	roll     string
}

func (f *faultConfig) register(fs *flag.FlagSet) {
	fs.Float64Var(&f.rate, "rate", 6, "orders a second, half shop, half B2B")
	fs.IntVar(&f.rounds, "rounds", 3, "rounds of each fault kind (the replica kind does this many rounds per service; the NATS kind at least 2: the leader and a follower)")
	fs.StringVar(&f.kinds, "kinds", strings.Join(allKinds, ","), "fault kinds to run")
	fs.DurationVar(&f.settle, "settle", 8*time.Second, "steady load before each fault")
	fs.DurationVar(&f.outage, "outage", 3*time.Second, "how long a killed or stopped part stays down")
	fs.DurationVar(&f.retryFor, "retry-for", 3*time.Minute, "how long a client retries an order before giving up")
	fs.DurationVar(&f.converge, "converge", 2*time.Minute, "how long the databases may take to agree after the load")
	fs.DurationVar(&f.recover, "recover", time.Minute, "how long a round waits, after its settle, for the orders acknowledged so far to be priced before it injects its fault")
	fs.StringVar(&f.report, "report", "", "also write the report (markdown) to this file")
	fs.StringVar(&f.roll, "roll", "shop,mes-calc", "services the rolling kind updates, one per round, in turn (-rounds rounds each)")
}

// round is one injected fault.
type round struct {
	kind, what string
	start, end time.Time // the fault began; the platform was whole again
	ready      string    // the restart's: how long each part took to be ready again
}

// readyTimes is "nats-1 2.1 s, ..., gateway 1.4 s": the parts in start
// order, NATS first.
func readyTimes(ready map[string]time.Duration) string {
	var parts []string
	for _, part := range slices.Sorted(maps.Keys(ready)) {
		if strings.HasPrefix(part, "nats-") {
			parts = append(parts, part+" "+ms(ready[part]))
		}
	}
	for _, svc := range services {
		if d, ok := ready[svc]; ok {
			parts = append(parts, svc+" "+ms(d))
		}
	}
	return strings.Join(parts, ", ")
}

// faults runs the fault suite: the topology, a warm-up, the rounds under
// steady load, a drain, the reconciliation and the report. It fails when
// an order was lost, doubled, stuck, refused or left unanswered, or when
// an outbox or dead-letter table is not empty.
func faults(ctx context.Context, cfg Config, fc faultConfig, stdout io.Writer) error {
	kinds := strings.Split(fc.kinds, ",")
	for _, k := range kinds {
		if !slices.Contains(allKinds, k) {
			return fmt.Errorf("unknown fault kind %q (known: %s)", k, strings.Join(allKinds, ", "))
		}
	}
	roll := strings.Split(fc.roll, ",")
	for _, svc := range roll {
		if !slices.Contains(services, svc) {
			return fmt.Errorf("-roll: unknown service %q (known: %s)", svc, strings.Join(services, ", "))
		}
	}
	c, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	// Whatever happens, everything stops, PostgreSQL included (a private
	// server is stopped; the system one is started again if a round had
	// stopped it).
	defer c.Stop()
	started := time.Now()
	if err := c.Start(ctx); err != nil {
		return err
	}
	replicas, _, err := c.StreamInfo(ctx)
	if err != nil {
		return err
	}
	cfg.Log.Info("topology up", "took", time.Since(started).Round(time.Millisecond), "stream_replicas", replicas)

	l := newLoad(c.Public())
	if err := l.signUp(ctx, 8, c.mailDir()); err != nil {
		return err
	}
	if l.apiKey, err = apiClient(ctx, c.dsns["mes-api"]); err != nil {
		return err
	}
	m, err := newManager(ctx, c.Public(), c.dsns["gateway"])
	if err != nil {
		return err
	}
	l.onAck = func(id string) { m.queue <- id }
	m.run(ctx, 8, fc.retryFor)
	// Warm-up: one order of each channel answered before the clock starts.
	for _, ch := range []string{"shop", "api"} {
		l.place(ctx, ch, time.Now().Add(time.Minute))
	}
	if o := l.snapshot(); o[0].acked.IsZero() || o[1].acked.IsZero() {
		return fmt.Errorf("warm-up orders not accepted:\n%s", refusals(o))
	}

	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { l.run(loadCtx, fc.rate, fc.retryFor); close(loadDone) }()
	var rounds []round
	runErr := func() error {
		for _, kind := range kinds {
			n := fc.rounds
			switch kind {
			case kindReplica:
				n *= len(services)
			case kindNATS:
				n = max(n, 2)
			case kindRolling:
				n *= len(roll)
			}
			for i := range n {
				var rel release
				if kind == kindRolling {
					// The new build is made before the round, as a pipeline
					// builds the image before the rollout.
					rel.svc = roll[i%len(roll)]
					if rel.bin, rel.version, err = c.BuildRelease(ctx, rel.svc, fmt.Sprintf("release-%d", i+1)); err != nil {
						return err
					}
				}
				if err := wait(ctx, fc.settle); err != nil {
					return err
				}
				// Each round measures its own fault: not one whose orders
				// the previous round's recovery still holds.
				if len(rounds) > 0 {
					if err := pricedSoFar(ctx, c.dsns["mes-calc"], l, fc.recover); err != nil {
						cfg.Log.Warn("the next round starts on top of the last one's recovery", "kind", kind, "round", i+1, "error", err)
					}
				}
				r, err := inject(ctx, c, kind, i, fc.outage, rel)
				if err != nil {
					return fmt.Errorf("%s round %d: %w", kind, i+1, err)
				}
				attrs := []any{"kind", kind, "what", r.what, "took", r.end.Sub(r.start).Round(time.Millisecond)}
				if r.ready != "" {
					attrs = append(attrs, "ready_after_start", r.ready)
				}
				cfg.Log.Info("fault round", attrs...)
				rounds = append(rounds, r)
			}
		}
		return wait(ctx, fc.settle)
	}()
	stopLoad()
	<-loadDone
	if runErr != nil {
		return runErr
	}
	cfg.Log.Info("load stopped; waiting for every order's answer and confirmation")
	l.wg.Wait()
	close(m.queue)
	m.wg.Wait()
	if exited := c.Exited(); len(exited) > 0 {
		cfg.Log.Error("processes exited on their own", "processes", exited)
	}

	orders := l.snapshot()
	var v verdict
	var s state
	err = poll(ctx, fc.converge, "every database agreeing", func() (bool, string) {
		var err error
		if s, err = readState(ctx, c.dsns); err != nil {
			return false, err.Error()
		}
		v = reconcile(orders, s)
		v.unconfirmed = len(m.failed)
		return v.converged(), fmt.Sprintf("%d lost, %d stuck, %d in outboxes", len(v.lost), len(v.stuck), v.outbox)
	})
	rep := report(orders, rounds, s, v, cfg, fc, replicas, time.Since(started))
	fmt.Fprint(stdout, rep)
	if fc.report != "" {
		if werr := os.WriteFile(fc.report, []byte(rep), 0o644); werr != nil {
			return werr
		}
	}
	if err != nil {
		return fmt.Errorf("the platform did not reconcile: %w", err)
	}
	if !v.ok() {
		return fmt.Errorf("clients were refused or left without an answer: %d refused, %d unanswered, %d not confirmed", v.refused, v.pending, v.unconfirmed)
	}
	return nil
}

// release is a rolling round's new build of a service.
type release struct {
	svc, bin, version string
}

// inject runs one round of a fault kind; round i picks what to hit. A
// rolling round updates rel.svc to the build rel.bin.
func inject(ctx context.Context, c *Cluster, kind string, i int, outage time.Duration, rel release) (round, error) {
	r := round{kind: kind, start: time.Now()}
	switch kind {
	case kindRolling:
		r.start = time.Now()
		old, killed, err := c.RollingUpdate(ctx, rel.svc, rel.bin, rel.version)
		r.what = fmt.Sprintf("%s: %d replicas %s -> %s", rel.svc, c.cfg.Replicas, old, rel.version)
		if err != nil {
			return r, err
		}
		if len(killed) > 0 {
			// A replica that does not stop on SIGTERM within 30 s is a
			// failed update even if nothing was lost.
			return r, fmt.Errorf("rolling update of %s: %v did not stop within 30 s of SIGTERM (its goroutines are at the end of its log)", rel.svc, killed)
		}
	case kindReplica:
		svc := services[i%len(services)]
		rep := (i / len(services)) % c.cfg.Replicas
		r.what = replicaName(svc, rep)
		r.start = time.Now()
		if err := c.Kill(r.what); err != nil {
			return r, err
		}
		if err := wait(ctx, outage); err != nil {
			return r, err
		}
		if err := c.StartReplica(svc, rep); err != nil {
			return r, err
		}
		if err := c.WaitReplica(ctx, svc, rep, 2*time.Minute); err != nil {
			return r, err
		}
	case kindNATS:
		_, leader, err := c.StreamInfo(ctx)
		if err != nil {
			return r, err
		}
		node := leader
		if i%2 == 1 || leader < 0 {
			node = (max(leader, 0) + 1) % c.cfg.NATSNodes
		}
		r.what = natsName(node)
		if node == leader {
			r.what += " (stream leader)"
		}
		r.start = time.Now()
		if err := c.Kill(natsName(node)); err != nil {
			return r, err
		}
		if err := wait(ctx, outage); err != nil {
			return r, err
		}
		if err := c.StartNATSNode(node); err != nil {
			return r, err
		}
		if err := c.WaitNATSNode(ctx, node, 2*time.Minute); err != nil {
			return r, err
		}
	case kindPostgres:
		r.what = "PostgreSQL"
		r.start = time.Now()
		if err := c.pg.stop(ctx); err != nil {
			return r, err
		}
		if err := wait(ctx, outage); err != nil {
			_ = c.pg.start(context.WithoutCancel(ctx))
			return r, err
		}
		if err := c.pg.start(ctx); err != nil {
			return r, err
		}
	case kindRestart:
		r.what = "every replica and NATS node"
		r.start = time.Now()
		c.KillAll()
		if err := wait(ctx, outage); err != nil {
			return r, err
		}
		ready, err := c.StartAll(ctx)
		if err != nil {
			return r, err
		}
		r.ready = readyTimes(ready)
	}
	r.end = time.Now()
	return r, nil
}

// pricedSoFar waits up to d until mes-calc (its database at dsn) has
// priced every order acknowledged so far.
func pricedSoFar(ctx context.Context, dsn string, l *load, d time.Duration) error {
	var ids []string
	for _, o := range l.snapshot() {
		if o.id != "" {
			ids = append(ids, o.id)
		}
	}
	return poll(ctx, d, "every acknowledged order priced", func() (bool, string) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return false, err.Error()
		}
		defer c.Close(context.WithoutCancel(ctx))
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM calculations WHERE status = 'priced' AND order_id = ANY($1)", ids).Scan(&n); err != nil {
			return false, err.Error()
		}
		return n == len(ids), fmt.Sprintf("%d of %d priced", n, len(ids))
	})
}

// wait is the suite's pacing (the load runs meanwhile), not
// synchronisation: it ends early only when ctx does.
func wait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// apiClient creates the B2B client the load orders as, in mes-api's
// database, as `fabrika apiclient create` does; its key may place as many
// orders as the suite sends.
func apiClient(ctx context.Context, dsn string) (string, error) {
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	cr, err := mesapi.CreateClient(ctx, db, "Fault Suite GmbH", "faults@example.com", []string{"orders:read", "orders:write"}, 100000)
	if err != nil {
		return "", err
	}
	return cr.Key, nil
}
