package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// nginxConf makes nginx a plain reverse proxy to one upstream: one process,
// keep-alive connections upstream, no access log, no buffering to disk:
// about the least a proxy in front of a service can cost.
const nginxConf = `worker_processes 1;
master_process off;
daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path {{dir}}/body;
  proxy_temp_path {{dir}}/proxy;
  fastcgi_temp_path {{dir}}/fastcgi;
  uwsgi_temp_path {{dir}}/uwsgi;
  scgi_temp_path {{dir}}/scgi;
  upstream app { server {{upstream}}; keepalive 256; }
  server {
    listen {{listen}};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`

// startNginx runs nginx (the binary at bin) in front of upstreamURL, as a
// reference proxy of the comparison.
func startNginx(bin, upstreamURL string) (*server, error) {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatewaybench-nginx")
	if err != nil {
		return nil, err
	}
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{upstream}}", u.Host, "{{listen}}", listen).Replace(nginxConf)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd.Stderr = &stderr
	return startPeer("nginx", cmd, dir, listen, &stderr)
}

// procUsage is another process's CPU time from /proc (in clock ticks of
// 10 ms: enough over a phase of seconds).
func procUsage(pid int) (usage, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	// The fields after the command's name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return usage{}, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return usage{}, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	const tick = 10 * time.Millisecond
	return usage{cpu: time.Duration(ut+st) * tick}, nil
}
