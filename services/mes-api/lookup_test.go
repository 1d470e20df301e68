package mesapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOrderLookupByNumberAndReference is issue 17's "B2B orders can be
// looked up by their number and by the client's own reference".
func TestOrderLookupByNumberAndReference(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)
	key := e.newKey("orders:write", "orders:read")
	place := func(ref, idem string) order {
		r := e.do("POST", "/v1/orders", key, map[string]string{"Idempotency-Key": idem}, strings.Replace(orderBody(2), "PO-4711", ref, 1))
		if r.status != http.StatusCreated {
			t.Fatalf("place %s: %d %s", ref, r.status, r.body)
		}
		var o order
		r.json(t, &o)
		return o
	}
	a := place("PO-1", "a")
	place("PO-2", "b")
	a2 := place("PO-1", "c") // a reference may repeat: both are found
	list := func(q url.Values, k string) []order {
		var p struct{ Data []order }
		r := e.do("GET", "/v1/orders?"+q.Encode(), k, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("list %v: %d %s", q, r.status, r.body)
		}
		r.json(t, &p)
		return p.Data
	}
	if got := list(url.Values{"number": {a.Number}}, key); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("by number: %+v", got)
	}
	if got := list(url.Values{"reference": {"PO-1"}}, key); len(got) != 2 || got[0].ID != a2.ID || got[1].ID != a.ID {
		t.Fatalf("by reference: %+v", got)
	}
	if got := list(url.Values{"reference": {"PO-1"}, "status": {"shipped"}}, key); len(got) != 0 {
		t.Fatalf("by reference and status: %+v", got)
	}
	if got := list(url.Values{"reference": {"PO-1"}}, e.newKey("orders:read")); len(got) != 0 {
		t.Fatalf("another client sees %+v", got)
	}
	if got := list(url.Values{"number": {"API-NOPE"}}, key); len(got) != 0 {
		t.Fatalf("unknown number: %+v", got)
	}
	if r := e.do("GET", "/v1/orders?reference=PO%001", key, nil, nil); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("NUL in reference: %d %s", r.status, r.body)
	}
}
