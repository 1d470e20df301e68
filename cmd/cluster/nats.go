package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/platform/broker"
)

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
