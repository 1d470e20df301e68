// Package embedded runs a NATS JetStream server inside the process, for
// `fabrika dev`, benchmarks and tests. Service binaries never import it
// (they connect to an external server with platform/broker), so they do not
// link nats-server.
package embedded

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures the in-process server.
type Config struct {
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

// Start starts a JetStream server inside this process and waits until it
// accepts connections. Pass it to broker.Connect to connect in-process.
func Start(cfg Config) (*server.Server, error) {
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

// StartTemp starts an in-process-only server (Start) whose store is a new
// temporary directory, for benchmarks; stop shuts it down and removes the
// directory.
func StartTemp() (s *server.Server, stop func(), err error) {
	dir, err := os.MkdirTemp("", "fabrika-nats-")
	if err != nil {
		return nil, nil, fmt.Errorf("embedded nats: %w", err)
	}
	if s, err = Start(Config{StoreDir: dir}); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() { s.Shutdown(); s.WaitForShutdown(); os.RemoveAll(dir) }, nil
}
