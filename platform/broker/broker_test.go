package broker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/broker/embedded"
)

func TestStartEmbeddedNeedsStoreDir(t *testing.T) {
	t.Parallel()
	if _, err := embedded.Start(embedded.Config{}); err == nil {
		t.Fatal("started without a store dir")
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
	m := nats.NewMsg("fabrika.test.kept")
	m.Header.Set("Nats-Msg-Id", "kept-1")
	m.Data = []byte(`{}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	stop()

	js, stop = connect(t, dir)
	defer stop()
	st, err := js.Stream(ctx, broker.StreamName)
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
