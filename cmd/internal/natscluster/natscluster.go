// Package natscluster runs a NATS JetStream cluster of nats-server
// processes on one machine, from the nats-server version go.mod pins: the
// broker of the local production topology (cmd/cluster) and the one the
// messaging benchmark measures against (cmd/relaybench -cluster).
package natscluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/proc"
)

// Package is the nats-server main package; `go build` inside the module
// builds the version go.mod pins.
const Package = "github.com/nats-io/nats-server/v2"

// MaxNodes is how many nodes a Layout's port ranges hold.
const MaxNodes = 10

// Layout places a cluster's nodes: node n listens for clients on
// BasePort+n, for routes on BasePort+10+n and for monitoring on
// BasePort+20+n, all on 127.0.0.1; its configuration file is
// Dir/nats-<n+1>.conf and its store Dir/nats-<n+1>/.
type Layout struct {
	Nodes    int
	BasePort int
	Dir      string
}

// Name is node n's server name, "nats-1" for node 0.
func Name(n int) string { return fmt.Sprintf("nats-%d", n+1) }

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func (l Layout) ClientPort(n int) int  { return l.BasePort + n }
func (l Layout) RoutePort(n int) int   { return l.BasePort + 10 + n }
func (l Layout) MonitorPort(n int) int { return l.BasePort + 20 + n }

// Validate reports a layout that cannot work.
func (l Layout) Validate() error {
	switch {
	case l.Nodes < 1 || l.Nodes > MaxNodes:
		return fmt.Errorf("NATS nodes: %d, want 1 to %d", l.Nodes, MaxNodes)
	case l.BasePort < 1024 || l.BasePort+30 > 65535:
		return fmt.Errorf("NATS base port %d: the nodes take ports base..base+30", l.BasePort)
	case l.Dir == "":
		return errors.New("NATS directory missing")
	}
	return nil
}

// URL is every node's client URL, comma-separated, as FABRIKA_NATS_URL
// takes it.
func (l Layout) URL() string {
	urls := make([]string, l.Nodes)
	for n := range l.Nodes {
		urls[n] = "nats://" + addr(l.ClientPort(n))
	}
	return strings.Join(urls, ",")
}

// StreamReplicas is the replica count a stream on this cluster gets: one
// per node, at most three.
func (l Layout) StreamReplicas() int { return min(l.Nodes, 3) }

// Config is node n's configuration: JetStream with file storage in its
// store, routed to every other node.
func (l Layout) Config(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\nlisten: %q\nhttp: %q\n", Name(n), addr(l.ClientPort(n)), addr(l.MonitorPort(n)))
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\n", l.Store(n))
	if l.Nodes > 1 {
		var routes []string
		for i := range l.Nodes {
			if i != n {
				routes = append(routes, strconv.Quote("nats://"+addr(l.RoutePort(i))))
			}
		}
		fmt.Fprintf(&b, "cluster {\n  name: fabrika\n  listen: %q\n  routes: [%s]\n}\n", addr(l.RoutePort(n)), strings.Join(routes, ", "))
	}
	return b.String()
}

// Store is node n's JetStream store directory.
func (l Layout) Store(n int) string { return filepath.Join(l.Dir, Name(n)) }

// Command writes node n's configuration file and returns the command that
// runs it with the nats-server binary bin.
func (l Layout) Command(n int, bin string) (*exec.Cmd, error) {
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(l.Dir, Name(n)+".conf")
	if err := os.WriteFile(conf, []byte(l.Config(n)), 0o600); err != nil {
		return nil, err
	}
	return exec.Command(bin, "-c", conf), nil
}

// Healthy asks node n's monitoring endpoint whether it is healthy
// (JetStream enabled and current); the text says why not.
func (l Layout) Healthy(n int) (bool, string) {
	res, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr(l.MonitorPort(n)) + "/healthz")
	if err != nil {
		return false, err.Error()
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 500))
	res.Body.Close()
	return res.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", res.StatusCode, b)
}

// Build compiles the pinned nats-server into dir/nats-server, inside the
// module at root ("" for the working directory), and returns its path.
func Build(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "nats-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, Package)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s (run inside the Fabrika repository): %w\n%s", Package, err, out)
	}
	return bin, nil
}

// Cluster is a running cluster started by Start.
type Cluster struct {
	Layout
	procs []*proc.Proc
}

// Start runs every node of l with the binary bin, each node's output in
// Dir/nats-<n+1>.log, and waits up to d until all are healthy. The nodes
// die with the calling process.
func Start(ctx context.Context, l Layout, bin string, d time.Duration) (*Cluster, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{Layout: l}
	for n := range l.Nodes {
		cmd, err := l.Command(n, bin)
		if err != nil {
			c.Stop()
			return nil, err
		}
		p, err := proc.Start(Name(n), cmd, filepath.Join(l.Dir, Name(n)+".log"))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
	}
	deadline := time.Now().Add(d)
	for n := range l.Nodes {
		for {
			ok, why := l.Healthy(n)
			if ok {
				break
			}
			select {
			case <-c.procs[n].Done():
				c.Stop()
				return nil, fmt.Errorf("%s exited (log: %s): %s", Name(n), c.procs[n].Log(), why)
			default:
			}
			if time.Now().After(deadline) {
				c.Stop()
				return nil, fmt.Errorf("%s not healthy after %s: %s", Name(n), d, why)
			}
			select {
			case <-ctx.Done():
				c.Stop()
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return c, nil
}

// Stop ends every node at once: SIGTERM, SIGQUIT (its goroutines' stacks
// in its log) after ten seconds, SIGKILL five seconds later.
func (c *Cluster) Stop() {
	proc.StopAll(10*time.Second, c.procs...)
	c.procs = nil
}

// FreeBase is the first base port from from on (in steps of 40) whose
// thirty ports a Layout takes are free now on 127.0.0.1.
func FreeBase(from int) (int, error) { return FreePorts(from, 30, 40) }

// FreePorts is the first port base from from on, in steps of step, such
// that the n ports base..base+n-1 are free now on 127.0.0.1.
func FreePorts(from, n, step int) (int, error) {
	for base := from; base+n <= 65535; base += step {
		free := true
		for p := base; p < base+n && free; p++ {
			ln, err := net.Listen("tcp", addr(p))
			if err != nil {
				free = false
				continue
			}
			ln.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d free ports from %d on", n, from)
}
