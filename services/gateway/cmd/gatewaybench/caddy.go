package main

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// caddyfile makes Caddy a plain reverse proxy to one upstream: no admin
// endpoint, no automatic HTTPS, no access log (Caddy logs none unless
// told), as many idle connections kept to the upstream as the gateway
// keeps. Caddy is net/http's server and httputil.ReverseProxy's kin over
// net/http's transport: the peer the gateway's stack is judged against.
const caddyfile = `{
	admin off
	auto_https off
}
http://{{listen}} {
	reverse_proxy {{upstream}} {
		transport http {
			keepalive 90s
			keepalive_idle_conns 1024
			keepalive_idle_conns_per_host 256
		}
	}
}
`

// startCaddy runs Caddy (the binary at bin) in front of upstreamURL.
func startCaddy(bin, upstreamURL string) (*server, error) {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatewaybench-caddy")
	if err != nil {
		return nil, err
	}
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{listen}}", listen, "{{upstream}}", u.Host).Replace(caddyfile)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	// Caddy keeps its state under these; none of it is wanted here.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Stderr = &stderr
	return startPeer("caddy", cmd, dir, listen, &stderr)
}

// freePort is a loopback address no one listens on.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startPeer starts cmd, a reference proxy listening on listen, and waits
// until it accepts connections; stop ends it and removes dir.
func startPeer(name string, cmd *exec.Cmd, dir, listen string, stderr *bytes.Buffer) (*server, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	stop := func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		return os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("%s did not start: %s", name, stderr.String())
		}
	}
	pid := cmd.Process.Pid
	return &server{url: "http://" + listen, stop: stop, usage: func() (usage, error) { return procUsage(pid) }}, nil
}
