package broker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
	"github.com/fabrika/fabrika/platform/testenv"
)

func TestStartEmbeddedNeedsStoreDir(t *testing.T) {
	t.Parallel()
	if _, err := embedded.Start(embedded.Config{}); err == nil {
		t.Fatal("started without a store dir")
	}
}

// TestStartTemp: a server in a temporary store that takes messages, and
// whose store is gone once it is stopped.
func TestStartTemp(t *testing.T) {
	t.Parallel()
	s, stop, err := embedded.StartTemp()
	if err != nil {
		t.Fatal(err)
	}
	dir := s.JetStreamConfig().StoreDir
	nc, err := broker.Connect("", s, "broker-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		stop()
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.EnsureStream(t.Context(), js, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), "fabrika.test.temp", []byte("x")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("store %s still there after stop: %v", dir, err)
	}
}

func connect(t *testing.T, dir string) (jetstream.JetStream, func()) {
	t.Helper()
	s, err := embedded.Start(embedded.Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := broker.Connect("", s, "broker-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		s.Shutdown()
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, func() { nc.Close(); s.Shutdown(); s.WaitForShutdown() }
}

// TestEnsureStream: the stream is declared with the documented limits, a
// second declaration is a no-op, a drifted stream is put back, and stored
// messages survive a restart of the embedded server.
func TestEnsureStream(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	js, stop := connect(t, dir)
	for range 2 {
		st, err := broker.EnsureStream(ctx, js, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := st.CachedInfo().Config
		if c.Duplicates != broker.DuplicateWindow || c.MaxAge != broker.MaxAge || c.Storage != jetstream.FileStorage ||
			c.Replicas != 1 || len(c.Subjects) != 1 || c.Subjects[0] != "fabrika.>" {
			t.Fatalf("stream config %+v", c)
		}
	}
	st, _ := js.Stream(ctx, broker.StreamName)
	drifted := st.CachedInfo().Config
	drifted.Duplicates = time.Minute
	if _, err := js.UpdateStream(ctx, drifted); err != nil {
		t.Fatal(err)
	}
	if st, err := broker.EnsureStream(ctx, js, 1); err != nil || st.CachedInfo().Config.Duplicates != broker.DuplicateWindow {
		t.Fatalf("drifted stream not repaired: %v", err)
	}
	// An operator's larger limits and own settings survive; each difference
	// is logged.
	st, _ = js.Stream(ctx, broker.StreamName)
	op := st.CachedInfo().Config
	op.MaxAge, op.Duplicates, op.MaxBytes = 30*24*time.Hour, 2*time.Hour, 1<<30
	op.Subjects = append(op.Subjects, "audit.>")
	if _, err := js.UpdateStream(ctx, op); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	st, err := broker.EnsureStreamLogged(ctx, js, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; c.MaxAge != 30*24*time.Hour || c.Duplicates != 2*time.Hour || c.MaxBytes != 1<<30 || len(c.Subjects) != 2 {
		t.Fatalf("an operator's settings were overwritten: %+v", c)
	}
	for _, want := range []string{"max_age 720h0m0s above 168h0m0s: kept", "duplicate_window 2h0m0s above 1h0m0s: kept"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("drift %q not logged:\n%s", want, logged.String())
		}
	}
	m := nats.NewMsg("fabrika.test.kept")
	m.Header.Set("Nats-Msg-Id", "kept-1")
	m.Data = []byte(`{}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	stop()

	js, stop = connect(t, dir)
	defer stop()
	st, err = js.Stream(ctx, broker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetLastMsgForSubject(ctx, "fabrika.test.kept")
	if err != nil || got.Header.Get("Nats-Msg-Id") != "kept-1" {
		t.Fatalf("message lost across a restart: %v", err)
	}
	// The duplicate window is rebuilt from the store: a republish is dropped.
	ack, err := js.PublishMsg(ctx, m)
	if err != nil || !ack.Duplicate {
		t.Fatalf("republish after restart: %+v, %v; want a duplicate", ack, err)
	}
}

func TestLimitsFit(t *testing.T) {
	t.Parallel()
	// The inbox keeps processed ids 7 days by default (inbox.Config.Retention):
	// a message still in the stream is still recognised.
	if broker.MaxAge > 7*24*time.Hour || broker.DuplicateWindow > broker.MaxAge {
		t.Fatalf("max age %v must not exceed the inbox retention, duplicate window %v must not exceed max age", broker.MaxAge, broker.DuplicateWindow)
	}
}

// TestServiceBinariesDoNotLinkTheServer: a service's binary connects to an
// external NATS; only cmd/fabrika, benchmarks and tests embed the server
// (platform/broker/embedded).
func TestServiceBinariesDoNotLinkTheServer(t *testing.T) {
	t.Parallel()
	cmds := []string{"shop", "crm", "mes-calc", "mes-operator", "mes-api", "gateway"}
	for _, name := range cmds {
		out, err := exec.Command("go", "list", "-deps", "../../services/"+name+"/cmd/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", name, err, out)
		}
		if strings.Contains(string(out), "nats-server") {
			t.Errorf("services/%s/cmd/%s links nats-server", name, name)
		}
	}
}

// TestEnsureStreamOnCluster: on a 3-node JetStream cluster the stream is
// created with the configured replicas; a service configured with fewer
// never lowers an operator's R3 (drift logged), and one configured with more
// raises them.
func TestEnsureStreamOnCluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	urls := startCluster(t, 3)
	nc, err := broker.Connect(strings.Join(urls, ","), nil, "cluster-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var st jetstream.Stream
	testenv.Eventually(t, 30*time.Second, func() error { // until the cluster has elected its JetStream meta leader
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		defer acancel()
		st, err = broker.EnsureStream(actx, js, 3)
		if err != nil {
			return fmt.Errorf("stream on the cluster: %w", err)
		}
		return nil
	})
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("created with %d replicas, want 3", r)
	}
	var logged strings.Builder
	if st, err = broker.EnsureStreamLogged(ctx, js, 1, slog.New(slog.NewTextHandler(&logged, nil))); err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("a service configured with R1 lowered the stream to %d replicas", r)
	}
	if !strings.Contains(logged.String(), "replicas 3 above the configured 1: kept") {
		t.Errorf("drift not logged: %s", logged.String())
	}
	c := st.CachedInfo().Config
	c.Replicas = 1
	if _, err := js.UpdateStream(ctx, c); err != nil {
		t.Fatal(err)
	}
	if st, err = broker.EnsureStream(ctx, js, 3); err != nil || st.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("R1 not raised to the configured 3: %v", err)
	}
}

// startCluster starts n JetStream servers routed to each other in this
// process and returns their client URLs.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	ports := make([]int, n)
	var routes []string
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	var urls []string
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
			JetStream: true, StoreDir: t.TempDir(), JetStreamMaxMemory: 64 << 20,
			Cluster: server.ClusterOpts{Name: "fabrika-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("server %d not ready", i+1)
		}
		urls = append(urls, s.ClientURL())
	}
	return urls
}
