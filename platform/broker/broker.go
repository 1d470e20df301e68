// Package broker starts the embedded NATS JetStream server, connects to it
// or to an external cluster, and declares the platform's stream.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the one stream that holds every subject "fabrika.>".
const StreamName = "FABRIKA"

// Stream limits, and why they are what they are (docs/messaging.md):
//   - DuplicateWindow must exceed the outbox relay's retry horizon (about
//     15 minutes with 10 attempts and a 5 minute backoff cap), so that a
//     re-publish of a message the broker stored but whose ack was lost is
//     dropped by the broker.
//   - MaxAge bounds how long a consumer may stay away and still catch up; the
//     inbox keeps processed ids (7 days) at least as long, so a message
//     redelivered or re-published within the stream's life is still
//     recognised as a duplicate.
const (
	DuplicateWindow = time.Hour
	MaxAge          = 7 * 24 * time.Hour
)

// EmbeddedConfig configures the in-process server.
type EmbeddedConfig struct {
	// StoreDir holds JetStream's file store.
	StoreDir string
	// Host and Port to listen on for other processes; Port 0 means in-process
	// connections only (DontListen), -1 a random port.
	Host string
	Port int
	// SyncAlways fsyncs every stored message: survives power loss, not only a
	// killed process, at a cost in throughput.
	SyncAlways bool
}

// StartEmbedded starts a JetStream server inside this process and waits
// until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded nats: store dir is required")
	}
	opts := &server.Options{
		ServerName:         "fabrika-embedded",
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		Host:               cfg.Host,
		Port:               cfg.Port,
		NoSigs:             true,
		NoLog:              true,
		SyncAlways:         cfg.SyncAlways,
		JetStreamMaxMemory: 256 << 20,
	}
	if cfg.Port == 0 {
		opts.DontListen = true
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded nats: not ready after 30s")
	}
	return s, nil
}

// Connect connects to the embedded server when s is not nil, else to url.
// The connection reconnects for ever; the outbox and inbox ride it out.
func Connect(url string, s *server.Server, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1), // the outbox retries; do not buffer blindly
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	}
	if s != nil {
		opts = append(opts, nats.InProcessServer(s))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	return nc, nil
}

// EnsureStream creates the platform's stream or updates it to this
// configuration; it is safe to call from every service at every start.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	if replicas < 1 {
		replicas = 1
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Fabrika platform events",
		Subjects:    []string{"fabrika.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      MaxAge,
		Duplicates:  DuplicateWindow,
		Replicas:    replicas,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", StreamName, err)
	}
	return st, nil
}
