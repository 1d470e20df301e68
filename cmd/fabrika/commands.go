package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// serviceDB opens a service's database from --dsn, FABRIKA_<SVC>_DSN or the
// data directory, without running the service.
func serviceDB(ctx context.Context, service, dsn, dataDir string) (*sqldb.DB, error) {
	if !isService(service) {
		return nil, fmt.Errorf("unknown service %q (known: %s)", service, strings.Join(serviceNames(), ", "))
	}
	if dsn == "" {
		dsn = os.Getenv(dsnEnv(service))
	}
	if dsn == "" {
		dsn = filepath.Join(dataDir, service+".db")
		if _, err := os.Stat(dsn); err != nil {
			return nil, fmt.Errorf("no database for %s at %s (run the platform first, or give --dsn)", service, dsn)
		}
	}
	return sqldb.Open(ctx, dsn)
}

type adminFlags struct {
	fs      *flag.FlagSet
	service string
	dsn     string
	dataDir string
	id      string
	status  string
	addr    string
	limit   int
}

func newAdminFlags(name string) *adminFlags {
	a := &adminFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	a.fs.StringVar(&a.service, "service", "", "service name: "+strings.Join(serviceNames(), ", "))
	a.fs.StringVar(&a.dsn, "dsn", "", "the service's database (default: FABRIKA_<SERVICE>_DSN or <data-dir>/<service>.db)")
	a.fs.StringVar(&a.dataDir, "data-dir", env("FABRIKA_DATA_DIR", "data"), "data directory of `fabrika dev`")
	a.fs.StringVar(&a.id, "id", "", "message or dead letter id")
	a.fs.StringVar(&a.status, "status", "", "filter by status")
	a.fs.StringVar(&a.addr, "addr", "", "the running service's admin listener, host:port (replay needs the running service's handlers; default: its `fabrika dev` admin port)")
	a.fs.IntVar(&a.limit, "limit", 100, "how many to list")
	return a
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// outboxCommand lists, requeues or drops outbox messages of a service.
func outboxCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: fabrika outbox list|retry|drop --service NAME [--id ID|all]")
	}
	verb := args[0]
	a := newAdminFlags("fabrika outbox " + verb)
	if err := a.fs.Parse(args[1:]); err != nil {
		return err
	}
	db, err := serviceDB(ctx, a.service, a.dsn, a.dataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	adm := outbox.NewAdmin(db)
	switch verb {
	case "list":
		list, err := adm.List(ctx, a.status, a.limit)
		if err != nil {
			return err
		}
		return printJSON(os.Stdout, list)
	case "retry":
		if a.id == "" {
			return fmt.Errorf("--id ID (or --id all) is required")
		}
		n, err := adm.Retry(ctx, a.id)
		if err != nil {
			return err
		}
		fmt.Printf("requeued %d message(s); the running relay publishes them within a second\n", n)
		return nil
	case "drop":
		if a.id == "" {
			return fmt.Errorf("--id ID is required")
		}
		e, err := adm.Drop(ctx, a.id)
		if err != nil {
			return err
		}
		fmt.Println("dropped; it will never be sent:")
		return printJSON(os.Stdout, e)
	default:
		return fmt.Errorf("unknown outbox command %q: list, retry or drop", verb)
	}
}

// deadLetterCommand lists, replays or discards a service's dead letters.
// Replaying runs the service's handler, so it asks the running service
// through its internal admin route.
func deadLetterCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: fabrika deadletter list|replay|discard --service NAME [--id ID]")
	}
	verb := args[0]
	a := newAdminFlags("fabrika deadletter " + verb)
	if err := a.fs.Parse(args[1:]); err != nil {
		return err
	}
	switch verb {
	case "list", "discard":
		db, err := serviceDB(ctx, a.service, a.dsn, a.dataDir)
		if err != nil {
			return err
		}
		defer db.Close()
		if verb == "list" {
			list, err := inbox.ListDeadLetters(ctx, db, a.status, a.limit)
			if err != nil {
				return err
			}
			return printJSON(os.Stdout, list)
		}
		if a.id == "" {
			return fmt.Errorf("--id ID is required")
		}
		if err := inbox.DiscardDeadLetter(ctx, db, a.id); err != nil {
			return err
		}
		fmt.Println("discarded")
		return nil
	case "replay":
		if a.id == "" || a.service == "" {
			return fmt.Errorf("--service NAME and --id ID are required")
		}
		addr := a.addr
		if addr == "" {
			m := NewMain()
			if err := m.ParseFlags(nil); err != nil {
				return err
			}
			addr = fmt.Sprintf("%s:%d", m.Config.Host, m.adminPort(a.service))
		}
		token, err := readAdminToken(a.dataDir)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/admin/dead-letters/"+a.id+"/replay", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("replay through %s (is the service running? --addr sets its admin address): %w", addr, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("replay: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		fmt.Println("replayed")
		return nil
	default:
		return fmt.Errorf("unknown deadletter command %q: list, replay or discard", verb)
	}
}
