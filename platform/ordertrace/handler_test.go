package ordertrace_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestHandler: an order is found by number through the service's Finder and
// its messages by the id the Finder resolved; a service that has only a
// message of the order still reports it; one that knows nothing answers
// 404, and a reference that cannot be an order 422.
func TestHandler(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		db := testenv.DBOn(t, e, nil)
		out := testenv.Outbox(t, db)
		for _, key := range []string{"id-1", "id-2"} {
			m, err := outbox.NewMessage("fabrika.order.placed", key, map[string]string{"order_id": key})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error { return out.Enqueue(ctx, tx, m) }); err != nil {
				t.Fatal(err)
			}
		}
		find := func(_ context.Context, ref string) (ordertrace.Summary, bool, error) {
			if ref == "N-1" || ref == "id-1" {
				return ordertrace.Summary{OrderID: "id-1", Number: "N-1", Status: "placed"}, true, nil
			}
			return ordertrace.Summary{}, false, nil
		}
		mux := http.NewServeMux()
		mux.Handle("GET /admin/orders/{ref}/trace", ordertrace.Handler("shop", db, find, testenv.Logger(t)))
		get := func(ref string) (int, ordertrace.Report) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/orders/"+url.PathEscape(ref)+"/trace", nil))
			var r ordertrace.Report
			if rec.Code == 200 {
				if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
					t.Fatal(err)
				}
			}
			return rec.Code, r
		}
		if code, r := get("N-1"); code != 200 || r.OrderID != "id-1" || r.Rows == nil || r.Rows.Number != "N-1" || len(r.Outbox) != 1 || r.Outbox[0].Key != "id-1" {
			t.Errorf("by number: %d %+v, want id-1's row and message", code, r)
		}
		if code, r := get("id-2"); code != 200 || r.Rows != nil || len(r.Outbox) != 1 || r.Outbox[0].Key != "id-2" {
			t.Errorf("only a message: %d %+v, want the message without a row", code, r)
		}
		if code, _ := get("id-3"); code != http.StatusNotFound {
			t.Errorf("unknown order: %d, want 404", code)
		}
		if code, _ := get("bad\x01ref"); code != http.StatusUnprocessableEntity {
			t.Errorf("a control character: %d, want 422", code)
		}
	})
}
