package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// envChild makes the test binary the process that TestKill9 kills: its
// value is the childConfig in JSON.
const envChild = "FABRIKA_RELIABILITY_KILL9_CHILD"

type childConfig struct {
	StoreDir    string // the embedded broker's file store
	SenderDSN   string
	ReceiverDSN string
	Send        bool // enqueue a stream of messages; false: only relay and consume
}

// 9. kill -9 of a whole process hosting the embedded broker, a sender and a
// receiver, in the middle of a stream of committed messages; then a restart
// that sends nothing new: every committed message is handled exactly once.
func TestKill9WholeProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := childConfig{StoreDir: filepath.Join(dir, "nats"), SenderDSN: testenv.DSN(t), ReceiverDSN: testenv.DSN(t), Send: true}
	ctx := context.Background()

	first := startChild(t, cfg)
	sender, receiver := openDB(t, cfg.SenderDSN), openDB(t, cfg.ReceiverDSN)
	count := func(db *sqldb.DB, q string) int {
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return -1 // the child has not created the table yet
		}
		return n
	}
	testenv.EventuallyTrue(t, 60*time.Second, "the stream to flow", func() bool {
		if first.exited() {
			t.Fatalf("child exited early:\n%s", first.out.String())
		}
		return count(receiver, `SELECT COUNT(*) FROM received`) >= 300 && count(sender, `SELECT COUNT(*) FROM sent`) >= 500
	})
	first.kill() // SIGKILL
	settled(t, sender)
	committed := count(sender, `SELECT COUNT(*) FROM sent`)
	handled := count(receiver, `SELECT COUNT(DISTINCT msg_id) FROM received`)
	pending := count(sender, `SELECT COUNT(*) FROM outbox`)
	t.Logf("killed with %d committed, %d handled, %d still in the outbox", committed, handled, pending)

	cfg.Send = false
	second := startChild(t, cfg)
	defer second.kill()
	testenv.EventuallyTrue(t, 60*time.Second, "every committed message to be handled after the restart", func() bool {
		if second.exited() {
			t.Fatalf("restarted child exited:\n%s", second.out.String())
		}
		return count(receiver, `SELECT COUNT(DISTINCT msg_id) FROM received`) >= committed
	})
	// The restarted relay is done when the outbox is empty: every committed
	// message published and acknowledged, nothing left it could send again.
	testenv.EventuallyTrue(t, 60*time.Second, "the restarted relay to empty the outbox", func() bool {
		return count(sender, `SELECT COUNT(*) FROM outbox`) == 0
	})
	if n := count(sender, `SELECT COUNT(*) FROM sent`); n != committed {
		t.Fatalf("the restarted child sent: %d committed, was %d", n, committed)
	}
	checkExactlyOnce(t, sender, receiver)
}

// settled waits, on PostgreSQL, until no other session of db's database is
// inside a statement or a transaction: a COMMIT the killed process had sent
// may still be completing in its server backend, and counting before it ends
// would miss a committed transaction. SQLite has no such backend.
func settled(t *testing.T, db *sqldb.DB) {
	t.Helper()
	if db.Engine() != sqldb.Postgres {
		return
	}
	testenv.EventuallyTrue(t, 30*time.Second, "the killed process's sessions to finish", func() bool {
		var busy int
		err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`).Scan(&busy)
		return err == nil && busy == 0
	})
}

func openDB(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type child struct {
	cmd  *exec.Cmd
	out  bytes.Buffer // read only once done is closed
	done chan struct{}
}

func startChild(t *testing.T, cfg childConfig) *child {
	t.Helper()
	b, _ := json.Marshal(cfg)
	c := &child{done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), envChild+"="+string(b))
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	return c
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// TestMain turns the test binary into the process TestKill9WholeProcess
// kills when envChild is set.
func TestMain(m *testing.M) {
	if raw := os.Getenv(envChild); raw != "" {
		if err := runChild(raw); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild is the embedded broker, a sender and a receiver host in one
// process, as `fabrika` runs them, and a loop of committed enqueues.
func runChild(raw string) error {
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return err
	}
	ctx := context.Background()
	srv, err := embedded.Start(embedded.Config{StoreDir: cfg.StoreDir})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(service, dsn string, migrations fs.FS) (*host.Host, error) {
		nc, err := broker.Connect("", srv, service, log)
		if err != nil {
			return nil, err
		}
		return host.Open(ctx, host.Config{Service: service, DSN: dsn, Migrations: migrations,
			// Messages claimed when the process died wait for their lease to
			// run out before the restarted relay takes them over.
			Outbox: outbox.Config{Interval: 200 * time.Millisecond, BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
				PublishTimeout: 2 * time.Second, Lease: 5 * time.Second},
			Inbox: inbox.Config{BaseDelay: 50 * time.Millisecond, MaxDelay: time.Second, AckWait: 2 * time.Second},
		}, host.Deps{Logger: log, NATS: nc, TracerProvider: noop.NewTracerProvider()})
	}
	send, err := open("sender", cfg.SenderDSN, senderMigrations)
	if err != nil {
		return err
	}
	recv, err := open("receiver", cfg.ReceiverDSN, receiverMigrations)
	if err != nil {
		return err
	}
	subscribe(recv, nil)
	go func() { _ = send.Run(ctx, nil) }()
	go func() { _ = recv.Run(ctx, nil) }()
	if !cfg.Send {
		select {} // relay and consume until killed
	}
	var last int64
	_ = send.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM sent`).Scan(&last)
	for seq := last + 1; ; seq++ {
		if _, err := enqueue(ctx, send.DB, send.Outbox, subject, fmt.Sprint("key-", seq%10), seq); err != nil {
			return err
		}
	}
}
