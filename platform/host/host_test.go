package host_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"

	"github.com/fabrika/fabrika/platform/host"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHostServesOperationalRoutesAndStopsGracefully(t *testing.T) {
	b := testenv.NewBroker(t)
	ctx := context.Background()
	h, err := host.Open(ctx, testenv.HostConfig(t, "svc", nil), b.Deps(t, "svc"))
	if err != nil {
		t.Fatal(err)
	}
	app := http.NewServeMux()
	app.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(runCtx, app) }()
	base := "http://" + h.Addr()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := get(t, base+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get(t, base+"/hello"); code != 200 || body != "hi" {
		t.Fatalf("app route: %d %q", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"svc"`) {
		t.Fatalf("healthz: %d %q", code, body)
	}
	// A message in the outbox is visible in the admin route and the metrics.
	err = h.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		m, _ := outbox.NewMessage("fabrika.test.x", "k", map[string]string{"a": "b"})
		return h.Outbox.Enqueue(ctx, tx, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"/admin/outbox?status=bogus"); code != 422 {
		t.Fatalf("bad status filter: %d %s", code, body)
	}
	code, body := get(t, base+"/metrics")
	for _, want := range []string{"fabrika_outbox_pending", "fabrika_outbox_published_total", `service="svc"`, "fabrika_http_requests_total"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("metrics lack %s (%d)", want, code)
		}
	}
	code, body = get(t, base+"/admin/dead-letters")
	var dl map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &dl) != nil {
		t.Fatalf("dead letters: %d %s", code, body)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
}
