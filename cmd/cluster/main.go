// Command cluster runs Fabrika on one machine in its production shape, and
// proves it against faults.
//
//	go run ./cmd/cluster [up] [flags]     start the topology; Ctrl-C stops it
//	go run ./cmd/cluster faults [flags]   start it, place orders at a steady rate
//	                                      through the public API while injecting
//	                                      faults, reconcile every database, report
//	go run ./cmd/cluster pubkey SEED      the identity public key of a base64 seed
//
// The topology: a 3-node NATS JetStream cluster (nats-server built from the
// version go.mod pins) with the stream at R3; a PostgreSQL database and role
// per service; two replicas of every service, each its own process from its
// standalone entry point (services/<name>/cmd/<name>), configured by FABRIKA_*
// variables; HAProxy in front of the gateways (the ingress) and of each
// service's replicas (what a Kubernetes Service is). See docs/deploy.md.
//
// It is a Go command rather than a shell script because the fault suite
// needs what Go does well and shell does not: a load generator with
// per-request timing, process supervision, JetStream and PostgreSQL
// clients, and unit tests of the parts (configs, reconciliation, figures).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "up"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "up":
		cfg, _, err := parseFlags("up", args, stdout, stderr)
		if err != nil {
			return err
		}
		return up(ctx, cfg)
	case "pubkey":
		// The public key of an identity seed, for the services' Secret.
		if len(args) != 1 {
			return fmt.Errorf("usage: cluster pubkey BASE64_SEED")
		}
		pub, err := publicKey(args[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, pub)
		return nil
	case "faults":
		cfg, fc, err := parseFlags("faults", args, stdout, stderr)
		if err != nil {
			return err
		}
		return faults(ctx, cfg, fc, stdout)
	}
	return fmt.Errorf("unknown command %q: up or faults", cmd)
}

func parseFlags(cmd string, args []string, stdout, stderr io.Writer) (Config, faultConfig, error) {
	fs := flag.NewFlagSet("cluster "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	root, err := moduleRoot()
	if err != nil {
		return Config{}, faultConfig{}, err
	}
	cfg := Config{Root: root, Out: stdout}
	var fc faultConfig
	defState, defPort, defPG, defPrefix := filepath.Join(root, "data", "cluster"), 8080, "system", "fabrika"
	if cmd == "faults" {
		defState, defPort, defPG, defPrefix = filepath.Join(os.TempDir(), "fabrika-faults"), 30000, "private", "faults"
	}
	fs.StringVar(&cfg.StateDir, "state", defState, "state directory: binaries, logs, NATS stores, secrets")
	fs.IntVar(&cfg.BasePort, "port", defPort, "the ingress's port; the topology takes port..port+440 on 127.0.0.1")
	fs.IntVar(&cfg.Replicas, "replicas", 2, "replicas of every service")
	fs.IntVar(&cfg.NATSNodes, "nats", 3, "NATS JetStream nodes (the stream's replicas: min(nodes, 3))")
	fs.StringVar(&cfg.Postgres, "postgres", defPG, "system: the server on -pg-admin (started or installed by .ci/postgres.sh); private: a server of its own in the state directory")
	fs.StringVar(&cfg.PGAdmin, "pg-admin", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "superuser DSN of the system PostgreSQL")
	fs.StringVar(&cfg.DBPrefix, "db-prefix", defPrefix, "databases and roles are <prefix>_<service>")
	fs.BoolVar(&cfg.Fresh, "fresh", cmd == "faults", "drop the databases and the NATS stores first")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "the services' log level")
	fs.IntVar(&cfg.Procs, "procs", 1, "each replica's GOMAXPROCS: 1, as a pod limited to one core by the manifests (0: the machine's cores)")
	if cmd == "faults" {
		fc.register(fs)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, fc, err
	}
	if fs.NArg() > 0 {
		return cfg, fc, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return cfg, fc, err
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return cfg, fc, nil
}

// moduleRoot is the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the Fabrika repository (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// up starts the topology and keeps it until ctx ends.
func up(ctx context.Context, cfg Config) error {
	c, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Stop()
	if err := c.Start(ctx); err != nil {
		return err
	}
	if replicas, _, err := c.StreamInfo(ctx); err != nil {
		cfg.Log.Warn("stream not readable", "error", err)
	} else if want := min(cfg.NATSNodes, 3); replicas != want {
		cfg.Log.Warn("the stream runs with fewer replicas than the cluster has nodes (FABRIKA_STREAM_REPLICAS not applied)", "replicas", replicas, "want", want)
	}
	c.welcome(cfg.Out)
	<-ctx.Done()
	cfg.Log.Info("stopping: ingress, gateways, services, NATS")
	return nil
}
