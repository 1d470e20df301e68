package mesapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// TestPoisonedTextNeverEntersNorLoops is issue 15's poison: text with NUL,
// controls or bidi overrides is refused where it enters (422, nothing
// written, nothing on the stream), and a message that carries some anyway
// (a producer without the check) is dead-lettered at its first delivery,
// with the field named, instead of failing forever (on PostgreSQL a NUL in a
// TEXT column fails every retry).
func TestPoisonedTextNeverEntersNorLoops(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)
	key := e.newKey("orders:write", "orders:read")
	for name, body := range map[string]string{
		"NUL in reference":   strings.Replace(orderBody(1), `"PO-4711"`, `"PO\u00004711"`, 1),
		"NUL in street":      strings.Replace(orderBody(1), `"Hauptstr. 1"`, `"Haupt\u0000str. 1"`, 1),
		"bidi in city":       strings.Replace(orderBody(1), `"Berlin"`, `"Ber\u202elin"`, 1),
		"escape in option":   strings.Replace(orderBody(1), `"steel_s235"`, `"steel\u001b[2J"`, 1),
		"unknown option":     strings.Replace(orderBody(1), `"material"`, `"colour":"red","material"`, 1),
		"quantity as string": strings.Replace(orderBody(7), `"quantity":7`, `"quantity":"7"`, 1),
		"unknown country":    strings.Replace(orderBody(1), `"DE"`, `"XX"`, 1),
	} {
		r := e.do("POST", "/v1/orders", key, map[string]string{"Idempotency-Key": "poison-" + strings.ReplaceAll(name, " ", "-")}, body)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if _, err := mesapi.CreateClient(e.ctx, e.h.DB, "Evil\x00Corp", "", nil, 0); err == nil {
		t.Error("a client name with NUL was accepted")
	}
	if n := e.count("api_order"); n != 0 {
		t.Fatalf("%d poisoned orders stored", n)
	}
	e.noneOnStream(contracts.OrderPlaced)

	// A producer without the check publishes a poisoned event about a real
	// order: mes-api dead-letters it at once, with the reason.
	r := e.do("POST", "/v1/orders", key, map[string]string{"Idempotency-Key": "clean"}, orderBody(1))
	if r.status != http.StatusCreated {
		t.Fatalf("clean order: %d %s", r.status, r.body)
	}
	var o order
	r.json(t, &o)
	e.publish(contracts.OrderCancelled, o.ID, contracts.OrderStatusChangedV1{OrderID: o.ID, Reason: "bad\x00reason", At: time.Now()})
	var dls []inbox.DeadLetter
	e.eventually("the poisoned event dead-lettered", func() bool {
		var err error
		dls, err = inbox.ListDeadLetters(e.ctx, e.h.DB, "open", 10)
		return err == nil && len(dls) == 1
	})
	dl := dls[0]
	if dl.Deliveries != 1 || !strings.Contains(dl.Reason, "reason must not contain control characters") || dl.Subject != contracts.Subject(contracts.OrderCancelled) {
		t.Fatalf("dead letter %+v", dl)
	}
	if e.do("GET", "/v1/orders/"+o.ID, key, nil, nil).json(t, &o); o.Status == contracts.StatusCancelled {
		t.Fatal("the poisoned event was applied")
	}
}
