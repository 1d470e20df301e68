package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// haproxyConfig is the ingress: the public port in front of the gateways,
// and one port per service in front of its replicas (what a Kubernetes
// Service does; the gateways' upstream URLs point there). A replica whose
// /readyz fails leaves rotation within two seconds; one that is down is
// asked every 250 ms, so that it serves again within about a quarter of a
// second of being ready (after a whole restart no gateway serves until then).
// A request whose connection was refused is sent to the other replica (it
// never reached the first, so resending is safe; anything else is the
// client's to retry, with its Idempotency-Key). While no replica is up,
// HAProxy itself answers 503 as the services do for a dependency that is
// down: problem+json with Retry-After.
func haproxyConfig(p ports, replicas int, probePort func(svc string, r int) int) string {
	var b strings.Builder
	b.WriteString(`global
  maxconn 4096

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  retries 2
  option redispatch 1
  retry-on conn-failure
  default-server inter 1s fastinter 500ms downinter 250ms fall 2 rise 1
  http-error status 503 content-type application/problem+json string '{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"no replica of the service is up; try again shortly"}' hdr Retry-After 1

`)
	backend := func(svc string) {
		fmt.Fprintf(&b, "backend %s\n  option httpchk GET /readyz\n  balance roundrobin\n", svc)
		for r := range replicas {
			fmt.Fprintf(&b, "  server %s %s check port %d\n", replicaName(svc, r), addr(p.app(svc, r)), probePort(svc, r))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "frontend ingress\n  bind %s\n  option forwardfor\n  default_backend gateway\n\n", addr(p.ingress()))
	backend("gateway")
	for _, svc := range services {
		if svc == "gateway" {
			continue
		}
		// No X-Forwarded-For here: the gateway already set the client's.
		fmt.Fprintf(&b, "frontend %s-vip\n  bind %s\n  default_backend %s\n\n", svc, addr(p.vip(svc)), svc)
		backend(svc)
	}
	fmt.Fprintf(&b, "frontend stats\n  bind %s\n  stats enable\n  stats uri /\n  stats refresh 2s\n", addr(p.stats()))
	return b.String()
}

// haproxyBinary finds HAProxy, installing it from Debian when missing and
// allowed (root).
func haproxyBinary(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("HAProxy is not installed: apt-get install haproxy (as root)")
	}
	// An exec.Cmd runs once: the retry after apt-get update needs its own.
	install := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "haproxy")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if _, err := install(); err != nil {
		if out2, err2 := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); err2 != nil {
			return "", fmt.Errorf("apt-get update: %w\n%s", err2, out2)
		}
		if out, err := install(); err != nil {
			return "", fmt.Errorf("apt-get install haproxy: %w\n%s", err, out)
		}
	}
	return exec.LookPath("haproxy")
}

func (c *Cluster) startIngress(ctx context.Context) error {
	bin, err := haproxyBinary(ctx)
	if err != nil {
		return err
	}
	conf := filepath.Join(c.cfg.StateDir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(haproxyConfig(c.p, c.cfg.Replicas, c.probePort)), 0o600); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, bin, "-c", "-q", "-f", conf).CombinedOutput(); err != nil {
		return fmt.Errorf("haproxy -c %s: %w\n%s", conf, err, out)
	}
	if err := c.run("ingress", exec.Command(bin, "-db", "-f", conf), nil); err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, "the shop through the ingress", func() (bool, string) {
		return httpOK(c.Public() + "/shop/api/v1/catalog")
	})
}
