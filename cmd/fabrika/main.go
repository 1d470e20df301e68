// Command fabrika runs the whole platform on one machine and administers it.
//
//	fabrika [dev] [flags]        start the embedded NATS and every service
//	fabrika outbox list|retry|drop --service NAME [--id ID]
//	fabrika deadletter list|replay|discard --service NAME [--id ID]
//	fabrika order trace <order number or id> [--json]
//	fabrika admin create --login NAME --role admin|manager|operator [--workstations a,b]
//	fabrika apiclient create --name COMPANY [--scopes ...]
//	fabrika load [--rate N] [--step N --bound D]
//
// Flags may also be given as FABRIKA_* environment variables (see README).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fabrika:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	cmd := "dev"
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		cmd = "help"
	case len(args) > 0 && args[0] != "" && args[0][0] != '-':
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "dev":
		m := NewMain()
		if err := m.ParseFlags(args); err != nil {
			return err
		}
		return m.Run(ctx)
	case "outbox":
		return outboxCommand(ctx, args)
	case "deadletter":
		return deadLetterCommand(ctx, args)
	case "order":
		return orderCommand(ctx, args, stdout)
	case "admin":
		return adminCommand(ctx, args)
	case "apiclient":
		return apiClientCommand(ctx, args)
	case "load":
		return loadCommand(ctx, args, stdout)
	case "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage:
  fabrika [dev] [flags]                                  run the whole platform (embedded NATS, one SQLite file per service)
  fabrika help | -h | --help                             this list
  fabrika outbox list|retry|drop --service NAME [--id ID|all] [--status error]
  fabrika deadletter list|replay|discard --service NAME [--id ID]
  fabrika order trace <order number or id> [--json] [--shop-admin URL ...]   where an order is in every service, and what it waits for
  fabrika admin create --login NAME --role admin|manager|operator [--workstations laser,press_brake]
  fabrika apiclient create --name COMPANY [--scopes orders:read,orders:write,webhooks:manage] [--rate 10]
  fabrika apiclient list | revoke --key ID | roll --key ID
  fabrika load [--rate 10] [--step 10 --bound 250ms] [--phase 60s]   drive the running platform like its users and report rates, hops and CPU per order
run "fabrika dev -h" for the platform's flags`
