package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/platform/broker"
)

// natsConfig is node n's configuration file: a JetStream server with file
// storage in store, routed to every other node of a cluster of size nodes.
func natsConfig(p ports, n, nodes int, store string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\nlisten: %q\nhttp: %q\n", natsName(n), addr(p.natsClient(n)), addr(p.natsMonitor(n)))
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\n", store)
	if nodes > 1 {
		var routes []string
		for i := range nodes {
			if i != n {
				routes = append(routes, strconv.Quote("nats://"+addr(p.natsRoute(i))))
			}
		}
		fmt.Fprintf(&b, "cluster {\n  name: fabrika\n  listen: %q\n  routes: [%s]\n}\n", addr(p.natsRoute(n)), strings.Join(routes, ", "))
	}
	return b.String()
}

// StreamInfo reports the platform stream's replicas and its leader's node
// index (-1 when it has none).
func (c *Cluster) StreamInfo(ctx context.Context) (replicas, leader int, err error) {
	nc, err := nats.Connect(c.natsURL, nats.Timeout(3*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return 0, -1, fmt.Errorf("connect %s: %w", c.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, -1, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, broker.StreamName)
	if err != nil {
		return 0, -1, fmt.Errorf("stream %s: %w", broker.StreamName, err)
	}
	info := st.CachedInfo()
	leader = -1
	if info.Cluster != nil {
		for n := range c.cfg.NATSNodes {
			if info.Cluster.Leader == natsName(n) {
				leader = n
			}
		}
	}
	return info.Config.Replicas, leader, nil
}
