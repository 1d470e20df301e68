package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/natscluster"
	"github.com/fabrika/fabrika/cmd/internal/proc"
	"github.com/fabrika/fabrika/platform/buildinfo"
)

// services lists the platform's services in start order: the gateway last,
// once its upstreams serve.
var services = []string{"shop", "crm", "mes-calc", "mes-operator", "mes-api", "gateway"}

// Config is the topology: how many replicas and NATS nodes, where state and
// ports go, which PostgreSQL server.
type Config struct {
	Root      string // the repository (the module's directory)
	StateDir  string // binaries, logs, NATS stores, secrets
	BasePort  int    // the ingress; everything else is base+offset (see ports)
	Replicas  int    // of every service
	NATSNodes int    // JetStream cluster size; the stream's replicas too (at most 3)
	Postgres  string // "system" (127.0.0.1:5432 via .ci/postgres.sh) or "private" (initdb in the state dir)
	PGAdmin   string // superuser DSN of the system server
	DBPrefix  string // database and role names: <prefix>_<service>
	Fresh     bool   // drop the databases and the NATS stores first
	LogLevel  string
	// Procs is each replica's GOMAXPROCS: 1, as the manifests' CPU limit
	// of one core gives every pod (deploy/k8s/base; Go sets GOMAXPROCS from
	// the limit); 0 leaves Go's default, the machine's cores.
	Procs int
	Log   *slog.Logger
	Out   io.Writer // where the welcome text goes
}

// ports: everything is an offset from the ingress port B.
//
//	B                ingress (HAProxy) in front of the gateways
//	B+1..B+5         HAProxy in front of shop, crm, mes-calc, mes-operator, mes-api
//	                 (what a Kubernetes Service is; the gateways' upstream URLs)
//	B+9              HAProxy statistics
//	B+100+10s+r      service s, replica r: app listener (the gateway's public one)
//	B+200+10s+r      its admin listener (FABRIKA_ADMIN_ADDR)
//	B+300+10s+r      the gateway's operations listener (FABRIKA_HTTP_ADDR of cmd/gateway)
//	B+400+n          NATS node n: clients; B+410+n routes; B+420+n monitoring
//	B+430            the private PostgreSQL server
type ports int

func (b ports) ingress() int                { return int(b) }
func (b ports) vip(svc string) int          { return int(b) + 1 + index(svc) }
func (b ports) stats() int                  { return int(b) + 9 }
func (b ports) app(svc string, r int) int   { return int(b) + 100 + 10*index(svc) + r }
func (b ports) admin(svc string, r int) int { return int(b) + 200 + 10*index(svc) + r }
func (b ports) ops(svc string, r int) int   { return int(b) + 300 + 10*index(svc) + r }
func (b ports) postgres() int               { return int(b) + 430 }

// nats places the NATS cluster's nodes at B+400 (natscluster.Layout).
func (b ports) nats(nodes int, dir string) natscluster.Layout {
	return natscluster.Layout{Nodes: nodes, BasePort: int(b) + 400, Dir: dir}
}

func index(svc string) int {
	for i, s := range services {
		if s == svc {
			return i
		}
	}
	panic("unknown service " + svc)
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// secrets are generated once per state directory and kept there (0600), so
// that a restart keeps sessions, tokens and database passwords valid.
type secrets struct {
	IdentitySeed string            `json:"identity_seed"` // base64 Ed25519 seed: the gateway signs, the services verify
	AdminToken   string            `json:"admin_token"`   // FABRIKA_ADMIN_TOKEN of every service
	SecretKey    string            `json:"secret_key"`    // FABRIKA_SECRET_KEY of mes-api: seals webhook secrets at rest
	DBPasswords  map[string]string `json:"db_passwords"`
}

func loadSecrets(dir string) (secrets, error) {
	path := filepath.Join(dir, "secrets.json")
	var s secrets
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("%s: %w", path, err)
		}
		if s.SecretKey == "" { // a state directory from before mes-api sealed secrets
			s.SecretKey = base64.StdEncoding.EncodeToString(randomBytes(32))
			b, _ := json.MarshalIndent(s, "", "  ")
			return s, os.WriteFile(path, b, 0o600)
		}
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	s = secrets{IdentitySeed: base64.StdEncoding.EncodeToString(randomBytes(ed25519.SeedSize)),
		AdminToken: hex.EncodeToString(randomBytes(32)), SecretKey: base64.StdEncoding.EncodeToString(randomBytes(32)),
		DBPasswords: map[string]string{}}
	for _, svc := range services {
		s.DBPasswords[svc] = hex.EncodeToString(randomBytes(16))
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return s, os.WriteFile(path, b, 0o600)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

func (s secrets) publicKey() string {
	pub, _ := publicKey(s.IdentitySeed) // generated here: always a seed
	return pub
}

// publicKey is the base64 Ed25519 public key of a base64 seed.
func publicKey(seed string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(seed))
	if err != nil || len(b) != ed25519.SeedSize {
		return "", errors.New("the identity seed must be 32 bytes in base64")
	}
	return base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(b).Public().(ed25519.PublicKey)), nil
}

// Cluster is the running topology.
type Cluster struct {
	cfg     Config
	p       ports
	sec     secrets
	bin     string
	pg      postgres
	dsns    map[string]string
	probe   map[string]int // replica -> port whose /readyz answered
	mu      sync.Mutex
	procs   map[string]*proc.Proc // "shop-1", "nats-2", "ingress"
	nats    natscluster.Layout
	natsURL string
	builds  map[string]string // service -> binary its replicas start from, when not bin/<service> (a rolling update's)
}

// replicaName is "shop-1" for replica 0 of the shop.
func replicaName(svc string, r int) string { return fmt.Sprintf("%s-%d", svc, r+1) }

func natsName(n int) string { return natscluster.Name(n) }

// New prepares the state directory, the binaries and the databases; Start
// starts the processes.
func New(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Replicas < 1 {
		return nil, errors.New("replicas must be at least 1")
	}
	if cfg.BasePort < 1024 || cfg.BasePort+440 > 65535 {
		return nil, fmt.Errorf("base port %d: the topology takes ports base..base+440", cfg.BasePort)
	}
	c := &Cluster{cfg: cfg, p: ports(cfg.BasePort), bin: filepath.Join(cfg.StateDir, "bin"), procs: map[string]*proc.Proc{}, probe: map[string]int{}}
	c.nats = c.p.nats(cfg.NATSNodes, filepath.Join(cfg.StateDir, "nats"))
	if err := c.nats.Validate(); err != nil {
		return nil, err
	}
	if cfg.Fresh {
		for _, d := range []string{"nats", "logs"} {
			if err := os.RemoveAll(filepath.Join(cfg.StateDir, d)); err != nil {
				return nil, err
			}
		}
	}
	// The state directory must be traversable by the user a private
	// PostgreSQL runs as; what is secret inside is 0700/0600.
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.StateDir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{"bin", "logs", "nats"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o700); err != nil {
			return nil, err
		}
	}
	var err error
	if c.sec, err = loadSecrets(cfg.StateDir); err != nil {
		return nil, err
	}
	if err := c.build(ctx); err != nil {
		return nil, err
	}
	c.natsURL = c.nats.URL()
	return c, nil
}

// build compiles every service's standalone entry point and nats-server
// from the version go.mod pins.
func (c *Cluster) build(ctx context.Context) error {
	start := time.Now()
	args := []string{"build", "-o", c.bin + string(filepath.Separator)}
	for _, s := range services {
		args = append(args, "./services/"+s+"/cmd/"+s)
	}
	args = append(args, natscluster.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = c.cfg.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	c.cfg.Log.Info("built the services and nats-server", "dir", c.bin, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Start brings the topology up: PostgreSQL and the databases, the NATS
// cluster, the replicas, then the ingress once every replica is ready.
func (c *Cluster) Start(ctx context.Context) error {
	var err error
	if c.pg, err = newPostgres(ctx, c.cfg, c.p); err != nil {
		return err
	}
	if c.dsns, err = c.pg.databases(ctx, c.cfg.DBPrefix, c.sec.DBPasswords, c.cfg.Fresh); err != nil {
		return err
	}
	if err := c.writeEnvFiles(); err != nil {
		return err
	}
	if err := c.startNATS(ctx); err != nil {
		return err
	}
	if err := c.startServices(ctx); err != nil {
		return err
	}
	return c.startIngress(ctx)
}

func (c *Cluster) startNATS(ctx context.Context) error {
	for n := range c.cfg.NATSNodes {
		if err := c.StartNATSNode(n); err != nil {
			return err
		}
	}
	for n := range c.cfg.NATSNodes {
		if err := c.WaitNATSNode(ctx, n, time.Minute); err != nil {
			return err
		}
	}
	c.cfg.Log.Info("NATS JetStream cluster ready", "nodes", c.cfg.NATSNodes, "url", c.natsURL)
	return nil
}

// StartNATSNode starts node n from its config file (written on first use).
func (c *Cluster) StartNATSNode(n int) error {
	cmd, err := c.nats.Command(n, filepath.Join(c.bin, "nats-server"))
	if err != nil {
		return err
	}
	return c.run(natsName(n), cmd, nil)
}

// WaitNATSNode waits until node n's monitoring endpoint says it is healthy
// (JetStream enabled and current).
func (c *Cluster) WaitNATSNode(ctx context.Context, n int, d time.Duration) error {
	return poll(ctx, d, natsName(n)+" healthy", func() (bool, string) {
		if p := c.proc(natsName(n)); p != nil && p.Exited() {
			return false, "exited: " + p.Tail(2000)
		}
		return c.nats.Healthy(n)
	})
}

// serviceEnv is a replica's environment: everything platform/standalone
// and cmd/gateway read.
func (c *Cluster) serviceEnv(svc string, r int) []string {
	env := []string{
		"FABRIKA_DSN=" + c.dsns[svc],
		"FABRIKA_NATS_URL=" + c.natsURL,
		"FABRIKA_STREAM_REPLICAS=" + strconv.Itoa(c.nats.StreamReplicas()),
		"FABRIKA_ADMIN_ADDR=" + addr(c.p.admin(svc, r)),
		"FABRIKA_ADMIN_TOKEN=" + c.sec.AdminToken,
		"FABRIKA_LOG_LEVEL=" + c.cfg.LogLevel,
		"FABRIKA_IDENTITY_PUBLIC_KEY=" + c.sec.publicKey(),
		// A stable name per replica, as a StatefulSet gives: a restarted
		// replica takes over its own outbox leases at once.
		"FABRIKA_INSTANCE=" + replicaName(svc, r),
	}
	if c.cfg.Procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(c.cfg.Procs))
	}
	switch svc {
	case "gateway":
		env = append(env,
			"FABRIKA_HTTP_ADDR="+addr(c.p.ops(svc, r)),
			"FABRIKA_PUBLIC_ADDR="+addr(c.p.app(svc, r)),
			"FABRIKA_IDENTITY_PRIVATE_KEY="+c.sec.IdentitySeed,
			// Plain http on loopback: cookies without Secure, which
			// production mode refuses (TLS ends at the ingress in production).
			"FABRIKA_COOKIE_SECURE=false", "FABRIKA_PRODUCTION=false",
			"FABRIKA_TRUSTED_PROXIES=127.0.0.1/32",
			"FABRIKA_SHOP_URL=http://"+addr(c.p.vip("shop")),
			"FABRIKA_CRM_URL=http://"+addr(c.p.vip("crm")),
			"FABRIKA_MES_OPERATOR_URL=http://"+addr(c.p.vip("mes-operator")),
			"FABRIKA_MES_API_URL=http://"+addr(c.p.vip("mes-api")),
		)
	case "mes-api":
		env = append(env, "FABRIKA_HTTP_ADDR="+addr(c.p.app(svc, r)), "FABRIKA_SECRET_KEY="+c.sec.SecretKey)
	case "shop":
		env = append(env, "FABRIKA_HTTP_ADDR="+addr(c.p.app(svc, r)),
			// No SMTP server here: the shop writes its e-mails (sign-up
			// confirmations) to <state>/shop/mail.
			"FABRIKA_DATA_DIR="+filepath.Join(c.cfg.StateDir, "shop"),
			"FABRIKA_SHOP_PUBLIC_URL="+c.Public(),
			"FABRIKA_SHOP_COOKIE_SECURE=false") // plain http on this machine; TLS ends at the ingress in production
	default:
		env = append(env, "FABRIKA_HTTP_ADDR="+addr(c.p.app(svc, r)))
	}
	return env
}

// envFile is <state>/env/<svc>.env (0600): the service's database, for
// its admin commands.
func (c *Cluster) envFile(svc string) string {
	return filepath.Join(c.cfg.StateDir, "env", svc+".env")
}

func (c *Cluster) writeEnvFiles() error {
	if err := os.MkdirAll(filepath.Join(c.cfg.StateDir, "env"), 0o700); err != nil {
		return err
	}
	for _, svc := range services {
		if err := os.WriteFile(c.envFile(svc), []byte("FABRIKA_DSN='"+c.dsns[svc]+"'\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// mailDir is where the shop writes its e-mails.
func (c *Cluster) mailDir() string { return filepath.Join(c.cfg.StateDir, "shop", "mail") }

// StartReplica starts replica r of svc from the service's current build.
func (c *Cluster) StartReplica(svc string, r int) error {
	return c.run(replicaName(svc, r), exec.Command(c.binary(svc)), c.serviceEnv(svc, r))
}

// binary is the build svc's replicas start from: bin/<svc>, or the one a
// rolling update installed.
func (c *Cluster) binary(svc string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.builds[svc]; ok {
		return b
	}
	return filepath.Join(c.bin, svc)
}

// BuildRelease builds svc's standalone entry point afresh into
// bin/<release>/<svc>, stamped with the version 0.0.0-<release> (which its
// replicas report on /healthz), as a release pipeline builds an image, and
// returns its path and that version. The flags are build's but the stamp,
// so only the link is new work (cmd/image's -trimpath would compile every
// package again).
func (c *Cluster) BuildRelease(ctx context.Context, svc, release string) (bin, version string, err error) {
	dir := filepath.Join(c.bin, release)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	bin, version = filepath.Join(dir, svc), "0.0.0-"+release
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", buildinfo.LDFlag(version), "-o", bin, "./services/"+svc+"/cmd/"+svc)
	cmd.Dir = c.cfg.Root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build %s: %w\n%s", svc, err, b)
	}
	return bin, version, nil
}

// RollingUpdate replaces svc's replicas one at a time by the build bin, as
// a Deployment's rolling update does: the replica is stopped gracefully
// (SIGTERM: it leaves the balancer, finishes its requests, drains its
// consumers and relay), started again from bin on the same ports, and the
// next one is replaced only once this one's /readyz answers and its
// /healthz reports version, the new build's. It returns the version the
// first replica ran before, and the replicas that had to be killed because
// they did not stop within 30 s.
func (c *Cluster) RollingUpdate(ctx context.Context, svc, bin, version string) (old string, killed []string, err error) {
	if old, err = c.Version(svc, 0); err != nil {
		return "", nil, err
	}
	if old == version {
		return old, nil, fmt.Errorf("%s already runs %s: the release is not a new build", replicaName(svc, 0), version)
	}
	c.mu.Lock()
	if c.builds == nil {
		c.builds = map[string]string{}
	}
	c.builds[svc] = bin
	c.mu.Unlock()
	for r := range c.cfg.Replicas {
		name := replicaName(svc, r)
		if p := c.proc(name); p != nil && !p.Exited() && !p.Stop(30*time.Second) {
			killed = append(killed, name)
		}
		if err := c.StartReplica(svc, r); err != nil {
			return old, killed, err
		}
		if err := c.WaitReplica(ctx, svc, r, 2*time.Minute); err != nil {
			return old, killed, err
		}
		got, err := c.Version(svc, r)
		if err != nil {
			return old, killed, err
		}
		if got != version {
			return old, killed, fmt.Errorf("%s runs %s after its update, not %s", name, got, version)
		}
	}
	return old, killed, nil
}

// Version is the build replica r of svc reports on /healthz.
func (c *Cluster) Version(svc string, r int) (string, error) {
	url := "http://" + addr(c.p.admin(svc, r)) + "/healthz"
	res, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var h struct {
		Version string `json:"version"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 4096)).Decode(&h); err != nil || res.StatusCode != http.StatusOK || h.Version == "" {
		return "", fmt.Errorf("%s: %d, no version (%v)", url, res.StatusCode, err)
	}
	return h.Version, nil
}

// probePorts are where a replica's /readyz may answer: the admin listener,
// else (before FABRIKA_ADMIN_ADDR) the app or the gateway's operations one.
func (c *Cluster) probePorts(svc string, r int) []int {
	if svc == "gateway" {
		return []int{c.p.admin(svc, r), c.p.ops(svc, r)}
	}
	return []int{c.p.admin(svc, r), c.p.app(svc, r)}
}

// WaitReplica waits until the replica's /readyz answers 200.
func (c *Cluster) WaitReplica(ctx context.Context, svc string, r int, d time.Duration) error {
	name := replicaName(svc, r)
	return poll(ctx, d, name+" ready", func() (bool, string) {
		if p := c.proc(name); p == nil || p.Exited() {
			msg := "not running"
			if p != nil {
				msg = "exited: " + p.Tail(3000)
			}
			return false, msg
		}
		var last string
		for _, port := range c.probePorts(svc, r) {
			ok, why := httpOK("http://" + addr(port) + "/readyz")
			if ok {
				c.mu.Lock()
				c.probe[name] = port
				c.mu.Unlock()
				return true, ""
			}
			last = why
		}
		return false, last
	})
}

func (c *Cluster) startServices(ctx context.Context) error {
	for _, svc := range services {
		for r := range c.cfg.Replicas {
			if err := c.StartReplica(svc, r); err != nil {
				return err
			}
		}
		// Replicas of one service start together (they race for the
		// migration lock, as pods do); the next service starts once they
		// serve, so the gateway finds its upstreams.
		for r := range c.cfg.Replicas {
			if err := c.WaitReplica(ctx, svc, r, 2*time.Minute); err != nil {
				return err
			}
		}
		c.cfg.Log.Info("service ready", "service", svc, "replicas", c.cfg.Replicas)
	}
	return nil
}

// probePort is the port that answered the replica's /readyz.
func (c *Cluster) probePort(svc string, r int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.probe[replicaName(svc, r)]; ok {
		return p
	}
	return c.probePorts(svc, r)[0]
}

// run starts a process under name, its output appended to logs/<name>.log.
func (c *Cluster) run(name string, cmd *exec.Cmd, env []string) error {
	cmd.Env = append(os.Environ(), env...)
	p, err := proc.Start(name, cmd, filepath.Join(c.cfg.StateDir, "logs", name+".log"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	return nil
}

func (c *Cluster) proc(name string) *proc.Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

// Kill sends SIGKILL to a process and waits for it to die.
func (c *Cluster) Kill(name string) error {
	p := c.proc(name)
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	p.Kill()
	return nil
}

// KillAll sends SIGKILL to every service replica and NATS node at once (the
// ingress and PostgreSQL stay up): a power cut of the application nodes.
func (c *Cluster) KillAll() {
	c.mu.Lock()
	var all []*proc.Proc
	for name, p := range c.procs {
		if name != "ingress" {
			all = append(all, p)
		}
	}
	c.mu.Unlock()
	proc.KillAll(all...)
}

// StartAll starts the NATS nodes and every replica again at once, as the
// pods come back together after a power cut (a service starts without its
// broker and connects when it can, the gateway without its upstreams), and
// waits until every node is healthy and every replica ready. It returns how
// long each part took to be ready, from the start: "nats-1", "shop" (its
// slower replica).
func (c *Cluster) StartAll(ctx context.Context) (map[string]time.Duration, error) {
	start := time.Now()
	for n := range c.cfg.NATSNodes {
		if err := c.StartNATSNode(n); err != nil {
			return nil, err
		}
	}
	for _, svc := range services {
		for r := range c.cfg.Replicas {
			if err := c.StartReplica(svc, r); err != nil {
				return nil, err
			}
		}
	}
	// Each part is waited for on its own, so that its time is its own.
	var (
		mu    sync.Mutex
		ready = map[string]time.Duration{}
		errs  []error
		wg    sync.WaitGroup
	)
	wait := func(part string, fn func() error) {
		wg.Go(func() {
			err := fn()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ready[part] = max(ready[part], time.Since(start))
		})
	}
	for n := range c.cfg.NATSNodes {
		wait(natsName(n), func() error { return c.WaitNATSNode(ctx, n, time.Minute) })
	}
	for _, svc := range services {
		for r := range c.cfg.Replicas {
			wait(svc, func() error { return c.WaitReplica(ctx, svc, r, 2*time.Minute) })
		}
	}
	wg.Wait()
	return ready, errors.Join(errs...)
}

// Stop stops everything gracefully, in the reverse order of the start:
// the ingress, the gateways, the other services, NATS, a private
// PostgreSQL. Whatever does not stop in time is killed.
func (c *Cluster) Stop() {
	c.stopGroup([]string{"ingress"})
	var gw, rest, nats []string
	c.mu.Lock()
	for name := range c.procs {
		switch {
		case strings.HasPrefix(name, "gateway-"):
			gw = append(gw, name)
		case strings.HasPrefix(name, "nats-"):
			nats = append(nats, name)
		case name != "ingress":
			rest = append(rest, name)
		}
	}
	c.mu.Unlock()
	c.stopGroup(gw)
	c.stopGroup(rest)
	c.stopGroup(nats)
	if c.pg != nil {
		if err := c.pg.close(); err != nil {
			c.cfg.Log.Error("stop PostgreSQL", "error", err)
		}
	}
}

func (c *Cluster) stopGroup(names []string) {
	var wg sync.WaitGroup
	for _, n := range names {
		p := c.proc(n)
		if p == nil || p.Exited() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !p.Stop(30 * time.Second) {
				c.cfg.Log.Error("did not stop within 30s of SIGTERM; ended with SIGQUIT (a Go process writes its goroutines to its log)", "process", n, "log", p.Log())
			}
		}()
	}
	wg.Wait()
}

// Exited lists processes that ended without being asked to.
func (c *Cluster) Exited() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, p := range c.procs {
		if p.Exited() && !p.Stopped() {
			out = append(out, name)
		}
	}
	return out
}

// Public is the shop's address behind the ingress.
func (c *Cluster) Public() string { return "http://" + addr(c.p.ingress()) }

func (c *Cluster) welcome(w io.Writer) {
	pub := c.Public()
	fmt.Fprintf(w, `
Fabrika runs as a production-shaped cluster on this machine:
  %d NATS JetStream nodes (stream at R%d), %d replicas of each of %d services, PostgreSQL (%s; a database and role per service),
  HAProxy in front of the gateways and of each service.
Open:
  shop (customers)        %s/
  staff sign-in           %s/staff/login
  B2B API                 %s/api/v1/openapi.json
  ingress statistics      http://%s/
First staff account:      (set -a; . %s; %s admin create -login you -role admin)
Shop e-mails (sign-ups):  %s
Logs:                     %s
Secrets (database passwords, the admin token of the admin listeners, the identity seed): %s
Ctrl-C stops everything.
`, c.cfg.NATSNodes, min(c.cfg.NATSNodes, 3), c.cfg.Replicas, len(services), c.cfg.Postgres,
		pub, pub, pub, addr(c.p.stats()), c.envFile("gateway"), filepath.Join(c.bin, "gateway"),
		c.mailDir(), filepath.Join(c.cfg.StateDir, "logs"), filepath.Join(c.cfg.StateDir, "secrets.json"))
}

// poll calls ok until it reports true, ctx ends or d passes.
func poll(ctx context.Context, d time.Duration, what string, ok func() (bool, string)) error {
	deadline := time.Now().Add(d)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		done, why := ok()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s: %s", what, d, why)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

func httpOK(url string) (bool, string) {
	res, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return false, err.Error()
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 500))
	res.Body.Close()
	return res.StatusCode == 200, fmt.Sprintf("%d %s", res.StatusCode, b)
}
