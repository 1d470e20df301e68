package natscluster

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestConfig: the generated file is one nats-server accepts, with JetStream
// on file storage and a route to every other node.
func TestConfig(t *testing.T) {
	t.Parallel()
	l := Layout{Nodes: 3, BasePort: 40400, Dir: t.TempDir()}
	for n := range 3 {
		cmd, err := l.Command(n, "nats-server")
		if err != nil {
			t.Fatal(err)
		}
		path := cmd.Args[len(cmd.Args)-1]
		o, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("nats-server refuses node %d's config: %v", n, err)
		}
		if o.ServerName != Name(n) || !o.JetStream || o.StoreDir != filepath.Join(l.Dir, Name(n)) {
			t.Errorf("node %d: name %q jetstream %v store %q", n, o.ServerName, o.JetStream, o.StoreDir)
		}
		if o.Port != l.ClientPort(n) || o.Cluster.Port != l.RoutePort(n) || o.Cluster.Name != "fabrika" || o.HTTPPort != l.MonitorPort(n) {
			t.Errorf("node %d: client %d route %d cluster %q monitor %d", n, o.Port, o.Cluster.Port, o.Cluster.Name, o.HTTPPort)
		}
		if len(o.Routes) != 2 {
			t.Errorf("node %d has %d routes, want 2", n, len(o.Routes))
		}
		for _, r := range o.Routes {
			if r.Port() == strconv.Itoa(l.RoutePort(n)) {
				t.Errorf("node %d routes to itself", n)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		l    Layout
		ok   bool
	}{
		{"three", Layout{Nodes: 3, BasePort: 4222, Dir: "x"}, true},
		{"none", Layout{Nodes: 0, BasePort: 4222, Dir: "x"}, false},
		{"too many", Layout{Nodes: MaxNodes + 1, BasePort: 4222, Dir: "x"}, false},
		{"low port", Layout{Nodes: 3, BasePort: 80, Dir: "x"}, false},
		{"no dir", Layout{Nodes: 3, BasePort: 4222}, false},
	} {
		if err := tc.l.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestStartR3: three nodes of the pinned nats-server form a cluster on
// which a stream at three replicas takes messages. Builds nats-server, so
// it is skipped in -short.
func TestStartR3(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	ctx := context.Background()
	bin, err := Build(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base, err := FreeBase(41000 + os.Getpid()%500*40)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(ctx, Layout{Nodes: 3, BasePort: base, Dir: dir}, bin, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: c.StreamReplicas(), Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	// The stream's leader may still be elected when CreateStream returns:
	// its first publish can find no responder, which the client retries.
	if _, err := js.Publish(ctx, "t.1", []byte("x"), jetstream.WithRetryAttempts(40), jetstream.WithRetryWait(250*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 || info.State.Msgs != 1 {
		t.Fatalf("stream: replicas %d, cluster %+v, %d messages", info.Config.Replicas, info.Cluster, info.State.Msgs)
	}
	c.Stop()
	if _, err := os.Stat(filepath.Join(dir, "nats-1.log")); err != nil {
		t.Errorf("no node log: %v", err)
	}
}
