package webhook

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// reference runs the Standard Webhooks reference library (TypeScript, npm
// "standardwebhooks" 1.1.1, installed by `npm ci` in testdata/interop; .ci/run
// does it). The Go module of the reference repository is not served by the
// module proxy here.
func reference(t *testing.T, req map[string]any) map[string]any {
	t.Helper()
	if _, err := os.Stat("testdata/interop/node_modules/standardwebhooks"); err != nil || exec.Command("node", "--version").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the Standard Webhooks reference library is missing: run npm ci in services/mes-api/internal/webhook/testdata/interop")
		}
		t.Skip("node or the reference library is missing (npm ci in testdata/interop)")
	}
	in, _ := json.Marshal(req)
	cmd := exec.Command("node", "interop.js")
	cmd.Dir = "testdata/interop"
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node answered %q: %v", out, err)
	}
	return res
}

// TestInteropStandardWebhooks: what Fabrika signs, the reference library
// verifies; what the reference library signs, Fabrika's Verify accepts; a
// tampered body is refused by both.
func TestInteropStandardWebhooks(t *testing.T) {
	t.Parallel()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	body := []byte(`{"type":"order.priced","timestamp":"2026-12-06T22:00:00Z","data":{"order":{"id":"o1","status":"priced","reference":"Jörg's PO"}}}`)
	sig, err := Sign(secret, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if r := reference(t, map[string]any{"mode": "verify", "secret": secret, "id": "msg_1", "timestamp": now.Unix(), "signature": sig, "payload": string(body)}); r["ok"] != true {
		t.Fatalf("the reference library refuses Fabrika's signature: %v", r)
	}
	if r := reference(t, map[string]any{"mode": "verify", "secret": secret, "id": "msg_1", "timestamp": now.Unix(), "signature": sig, "payload": string(body) + " "}); r["ok"] != false {
		t.Fatalf("the reference library accepts a tampered body: %v", r)
	}
	r := reference(t, map[string]any{"mode": "sign", "secret": secret, "id": "msg_2", "timestamp": now.Unix(), "payload": string(body)})
	ref, _ := r["signature"].(string)
	if err := Verify(secret, "msg_2", strconv.FormatInt(now.Unix(), 10), ref, body, now, 5*time.Minute); err != nil {
		t.Fatalf("Fabrika refuses the reference library's signature %q: %v", ref, err)
	}
	if mine, _ := Sign(secret, "msg_2", now, body); mine != ref {
		t.Fatalf("signatures differ: Fabrika %q, reference %q", mine, ref)
	}
}
