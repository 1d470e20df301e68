package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/gateway"
)

func TestHelpListsSubcommands(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help", "help"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{arg}, &out); err != nil {
			t.Fatalf("fabrika %s: %v", arg, err)
		}
		for _, want := range []string{"fabrika [dev]", "fabrika outbox", "fabrika deadletter", "fabrika admin create", "fabrika apiclient", "fabrika order trace"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("fabrika %s does not list %q:\n%s", arg, want, out.String())
			}
		}
	}
}

// TestAdminCreateChecksBeforeThePassword: a wrong role is refused before
// the password is asked for (here: before standard input is read).
func TestAdminCreateChecksBeforeThePassword(t *testing.T) {
	t.Setenv("FABRIKA_ADMIN_PASSWORD", "")
	t.Setenv(dsnEnv("gateway"), "")
	err := adminCommand(context.Background(), []string{"create", "--login", "x", "--role", "boss", "--data-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Fatalf("err = %v, want the role refused first", err)
	}
}

// TestAdminCreateRefusesUnknownWorkstations: an operator's workstations
// are those the gateway learnt from the MES; others are refused with the
// reason, before the password is asked for.
func TestAdminCreateRefusesUnknownWorkstations(t *testing.T) {
	t.Setenv("FABRIKA_ADMIN_PASSWORD", "")
	t.Setenv(dsnEnv("gateway"), "")
	dir := t.TempDir()
	create := func(ws string) error {
		return adminCommand(context.Background(), []string{"create", "--login", "olaf", "--role", "operator", "--workstations", ws, "--data-dir", dir})
	}
	if err := create("laser"); err == nil || !strings.Contains(err.Error(), "no workstations are known yet") {
		t.Fatalf("before the price list: %v", err)
	}
	db, err := openMigrated(context.Background(), "gateway", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	err = gateway.LearnWorkstations(context.Background(), db, contracts.DemoPriceList(time.Now()))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := create("laser,moon"); err == nil || !strings.Contains(err.Error(), `"moon" is not a workstation of the shop floor (assembly, cnc_mill`) {
		t.Fatalf("moon: %v", err)
	}
}

func TestWarnNoPlatform(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	warnNoPlatform(&out, dir)
	if !strings.Contains(out.String(), "holds no platform's files") {
		t.Fatalf("no warning for an empty data directory: %q", out.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "gateway.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	warnNoPlatform(&out, dir)
	if out.Len() != 0 {
		t.Fatalf("a warning for a platform's data directory: %q", out.String())
	}
}

// TestEmptyListsPrintEmpty: listing nothing prints [], not null.
func TestEmptyListsPrintEmpty(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(dsnEnv("shop"), "")
	db, err := openMigrated(context.Background(), "shop", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, cmd := range []func(context.Context, []string) error{outboxCommand, deadLetterCommand} {
		out := captureStdout(t, func() {
			if err := cmd(context.Background(), []string{"list", "--service", "shop", "--data-dir", dir}); err != nil {
				t.Fatal(err)
			}
		})
		if strings.TrimSpace(out) != "[]" {
			t.Errorf("empty list printed as %q", out)
		}
	}
}

// captureStdout returns what fn writes to os.Stdout (the commands print
// there, as a user sees them).
func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = saved }()
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	fn()
	w.Close()
	return <-done
}

// TestDevWithExternalNATS: `fabrika dev --nats-url` connects its services
// to that server (no embedded one), and they serve.
func TestDevWithExternalNATS(t *testing.T) {
	b := testenv.NewEmbeddedBroker(t)
	m := NewMain()
	m.Config.DataDir = t.TempDir()
	m.Config.NATSURL = b.URL
	m.Config.Only = []string{"shop"}
	m.Config.BasePort = freeBasePort(t, 12)
	m.Config.AdminBasePort = m.Config.BasePort + 6
	m.Config.LogOutput = io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("did not start: %v", err)
	}
	admin := newClient(t, "http://"+m.AdminAddr("shop"))
	eventually(t, 30*time.Second, "the shop connected to the external NATS", func() (bool, string) {
		res := admin.get("/healthz")
		return res.code == 200 && strings.Contains(string(res.body), `"broker":"connected"`), res.String()
	})
}
