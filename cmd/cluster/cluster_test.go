package main

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/natscluster"
	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/testenv"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// TestPortsDistinct: no two listeners of the topology share a port.
func TestPortsDistinct(t *testing.T) {
	t.Parallel()
	p := ports(8080)
	seen := map[int]string{}
	add := func(port int, what string) {
		if prev, dup := seen[port]; dup {
			t.Errorf("port %d for %s and %s", port, prev, what)
		}
		seen[port] = what
	}
	add(p.ingress(), "ingress")
	add(p.stats(), "stats")
	add(p.postgres(), "postgres")
	for _, svc := range services {
		if svc != "gateway" {
			add(p.vip(svc), svc+" vip")
		}
		for r := range 9 {
			add(p.app(svc, r), replicaName(svc, r)+" app")
			add(p.admin(svc, r), replicaName(svc, r)+" admin")
			if svc == "gateway" {
				add(p.ops(svc, r), replicaName(svc, r)+" ops")
			}
		}
	}
	l := p.nats(natscluster.MaxNodes, "")
	for n := range natscluster.MaxNodes {
		add(l.ClientPort(n), natsName(n)+" client")
		add(l.RoutePort(n), natsName(n)+" route")
		add(l.MonitorPort(n), natsName(n)+" monitor")
	}
}

// TestHAProxyConfig: every replica is behind its service's port with a
// health check on the port that answered /readyz; only the ingress adds
// X-Forwarded-For (the gateway sets the client's for the services); HAProxy
// accepts the file when it is installed.
func TestHAProxyConfig(t *testing.T) {
	t.Parallel()
	p := ports(8080)
	cfg := haproxyConfig(p, 2, func(svc string, r int) int { return p.admin(svc, r) })
	for _, svc := range services {
		for r := range 2 {
			want := "server " + replicaName(svc, r) + " " + addr(p.app(svc, r)) + " check port " + strconv.Itoa(p.admin(svc, r))
			if !strings.Contains(cfg, want) {
				t.Errorf("missing %q", want)
			}
		}
	}
	if n := strings.Count(cfg, "option forwardfor"); n != 1 || !strings.Contains(cfg, "frontend ingress\n  bind "+addr(p.ingress())+"\n  option forwardfor") {
		t.Errorf("X-Forwarded-For must be added by the ingress only (%d times):\n%s", n, cfg)
	}
	if strings.Contains(cfg, "retry-on all") || strings.Contains(cfg, "empty-response") {
		t.Error("HAProxy must resend only requests that never reached a replica")
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed; the content checks above ran")
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
	}
}

// TestHAProxyNoReplica: while no gateway is up (a whole restart), the
// ingress answers as a service does for a dependency that is down: 503,
// problem+json, Retry-After. HAProxy's own 503 is an HTML page without it.
func TestHAProxyNoReplica(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed")
	}
	// A base whose listeners are free and whose replicas' ports have
	// nobody listening: every replica is down.
	base, err := natscluster.FreePorts(40000+rand.IntN(40)*500, 450, 500)
	if err != nil {
		t.Fatal(err)
	}
	p := ports(base)
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(haproxyConfig(p, 2, func(svc string, r int) int { return p.admin(svc, r) })), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for _, port := range []int{p.ingress(), p.vip("shop")} {
		var res *http.Response
		testenv.Eventually(t, 10*time.Second, func() error {
			var err error
			res, err = http.Post("http://"+addr(port)+"/api/v1/orders", "application/json", strings.NewReader("{}"))
			return err
		})
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" ||
			res.Header.Get("Content-Type") != "application/problem+json" || !json.Valid(body) {
			t.Errorf("port %d: %d %v %s", port, res.StatusCode, res.Header, body)
		}
	}
}

// TestReconcile: each way an order can go wrong is counted as such.
func TestReconcile(t *testing.T) {
	t.Parallel()
	at := time.Now()
	acked := func(id, key string) order {
		return order{key: key, channel: "shop", first: at, acked: at.Add(time.Millisecond), id: id}
	}
	good := func() state {
		s := state{origin: map[string]string{}, crm: map[string]string{}, crmEvents: map[string]map[string]int{},
			calc: map[string]string{}, pricedAt: map[string]time.Time{}, operator: map[string]bool{},
			outbox: map[string]int{}, dead: map[string]int{}}
		for _, id := range []string{"a", "b"} {
			s.origin[id], s.crm[id], s.calc[id], s.operator[id] = contracts.StatusConfirmed, contracts.StatusConfirmed, contracts.StatusPriced, true
			s.crmEvents[id] = map[string]int{contracts.OrderPlaced: 1, contracts.OrderPriced: 1, contracts.OrderConfirmed: 1}
		}
		return s
	}
	orders := []order{acked("a", "k1"), acked("b", "k2")}
	tests := []struct {
		name   string
		orders []order
		state  func(s *state)
		check  func(v verdict) bool
	}{
		{"converged", orders, func(*state) {}, func(v verdict) bool { return v.ok() && v.acked == 2 }},
		{"missing in mes-operator", orders, func(s *state) { delete(s.operator, "b") }, func(v verdict) bool { return len(v.lost) == 1 && !v.ok() }},
		{"missing in the CRM", orders, func(s *state) { delete(s.crm, "a") }, func(v verdict) bool { return len(v.lost) == 1 }},
		{"priced twice", orders, func(s *state) { s.crmEvents["a"][contracts.OrderPriced] = 2 }, func(v verdict) bool { return len(v.doubled) == 1 }},
		{"one id for two keys", append(orders, acked("a", "k3")), func(*state) {}, func(v verdict) bool { return len(v.doubled) == 1 && !v.ok() }},
		{"not confirmed in the CRM", orders, func(s *state) { s.crm["b"] = contracts.StatusPriced }, func(v verdict) bool { return len(v.stuck) == 1 }},
		{"created, never acknowledged", orders, func(s *state) { s.origin["c"] = contracts.StatusPlaced }, func(v verdict) bool { return len(v.orphans) == 1 }},
		{"left in an outbox", orders, func(s *state) { s.outbox["shop"] = 3 }, func(v verdict) bool { return v.outbox == 3 && !v.ok() }},
		{"dead letter", orders, func(s *state) { s.dead["crm"] = 1 }, func(v verdict) bool { return v.dead == 1 && !v.ok() }},
		{"refused", append(orders, order{key: "k4", refused: "401 sign in first"}), func(*state) {}, func(v verdict) bool { return v.refused == 1 && !v.ok() }},
		{"never answered", append(orders, order{key: "k5"}), func(*state) {}, func(v verdict) bool { return v.pending == 1 && !v.ok() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.state(&s)
			if v := reconcile(tt.orders, s); !tt.check(v) {
				t.Errorf("verdict %+v", v)
			}
		})
	}
}

func TestLongestGap(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	ts := func(secs ...float64) []time.Time {
		var out []time.Time
		for _, s := range secs {
			out = append(out, t0.Add(time.Duration(s*float64(time.Second))))
		}
		return out
	}
	tests := []struct {
		name     string
		acks     []time.Time
		from, to float64
		want     time.Duration
	}{
		{"steady", ts(0, 1, 2, 3, 4), 1.5, 3.5, time.Second},
		{"outage across the window, from the ack before it", ts(0, 1, 7, 8), 2, 4, 3 * time.Second},
		{"an outage open at the window's end ends there", ts(0, 1, 2, 9), 1.5, 3, time.Second},
		{"an outage within the window", ts(0, 1, 2, 6, 7), 1.5, 8, 4 * time.Second},
		{"none after", ts(0, 1), 2, 3, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := longestGap(tt.acks, t0.Add(time.Duration(tt.from*float64(time.Second))), t0.Add(time.Duration(tt.to*float64(time.Second))))
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(ds, 50); p != 50*time.Millisecond {
		t.Errorf("p50 %s", p)
	}
	if p := percentile(ds, 99); p != 99*time.Millisecond {
		t.Errorf("p99 %s", p)
	}
	if p := percentile(ds[:1], 99); p != 100*time.Millisecond {
		t.Errorf("p99 of one %s", p)
	}
	if p := percentile(nil, 99); p != 0 {
		t.Errorf("p99 of none %s", p)
	}
}

func TestPublicKey(t *testing.T) {
	t.Parallel()
	// RFC 8032-style check value: the key pair of seed 0x00..0x1f.
	if pub, err := publicKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="); err != nil || pub != "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=" {
		t.Errorf("publicKey = %q, %v", pub, err)
	}
	for _, bad := range []string{"", "not base64!", "AAEC"} {
		if _, err := publicKey(bad); err == nil {
			t.Errorf("publicKey(%q) accepted", bad)
		}
	}
}

// TestRetriedAnswers: the report groups what clients retried by status
// code or transport error, without URLs, most frequent first.
func TestRetriedAnswers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`502 {"title":"Bad Gateway"}`: "502",
		"503 ":                        "503",
		`Post "http://127.0.0.1:32000/api/v1/orders": EOF`:                                 "EOF",
		`Post "http://127.0.0.1:32000/shop/api/v1/orders": read: connection reset by peer`: "connection reset by peer",
	} {
		if got := answerClass(in); got != want {
			t.Errorf("answerClass(%q) = %q, want %q", in, got, want)
		}
	}
	if got := counts(map[string]int{"EOF": 1, "502": 3, "503": 1}); got != "3 x 502, 1 x 503, 1 x EOF" {
		t.Errorf("counts = %q", got)
	}
	if got := counts(nil); got != "none" {
		t.Errorf("counts(nil) = %q", got)
	}
}

// TestReplicasGetTheirPodsCores: by default each replica runs with the
// GOMAXPROCS Go picks in its pod under the manifests' CPU limit (the limit
// rounded up), not with the machine's cores: twelve replicas on a few cores
// would otherwise each run as many threads as the machine has.
func TestReplicasGetTheirPodsCores(t *testing.T) {
	t.Parallel()
	cfg, _, err := parseFlags("up", nil, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{cfg: cfg, p: ports(cfg.BasePort), dsns: map[string]string{}}
	for _, svc := range services {
		b, err := os.ReadFile(filepath.Join(cfg.Root, "deploy", "k8s", "base", svc+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cores := 0
		for doc := range strings.SplitSeq(string(b), "\n---") {
			var d struct {
				Kind string
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Name      string
								Resources struct{ Limits map[string]string }
							}
						}
					}
				}
			}
			if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
				t.Fatalf("%s: %v", svc, err)
			}
			if d.Kind != "Deployment" {
				continue
			}
			for _, ct := range d.Spec.Template.Spec.Containers {
				if ct.Name != svc {
					continue
				}
				q, err := resource.ParseQuantity(ct.Resources.Limits["cpu"])
				if err != nil {
					t.Fatalf("%s: container %s: CPU limit: %v", svc, ct.Name, err)
				}
				cores = int((q.MilliValue() + 999) / 1000)
			}
		}
		if cores == 0 {
			t.Fatalf("%s: no Deployment with a CPU limit in its manifest", svc)
		}
		want := "GOMAXPROCS=" + strconv.Itoa(cores)
		if env := c.serviceEnv(svc, 0); !slices.Contains(env, want) {
			t.Errorf("%s: replica environment without %s (the manifest's limit)", svc, want)
		}
	}
}
