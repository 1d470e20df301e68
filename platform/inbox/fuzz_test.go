package inbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// FuzzJSONOrderPlaced feeds arbitrary payloads to the JSON adapter: it must
// never panic, and it either hands the handler a payload that decodes and
// keeps its contract, or fails permanently (a dead letter at once, never an
// endless redelivery).
func FuzzJSONOrderPlaced(f *testing.F) {
	good, _ := json.Marshal(validOrder())
	for _, seed := range []string{string(good), `{}`, `null`, `[]`, `{"lines":[null]}`, `{"lines":[{"quantity":-1}]}`,
		`{"placed_at":"not a time"}`, `{"order_id":"\u0000"}`, "\xff\xfe", ``, `{"customer":{"id":1}}`} {
		f.Add([]byte(seed), "fabrika.order.placed")
	}
	f.Fuzz(func(t *testing.T, payload []byte, subject string) {
		var got *contracts.OrderPlacedV1
		h := inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderPlacedV1) error {
			got = &p
			return nil
		})
		err := h(context.Background(), nil, inbox.Message{ID: "m", Subject: subject, Payload: payload})
		switch {
		case err != nil && !errors.Is(err, inbox.ErrPermanent):
			t.Fatalf("payload %q: error %v is not permanent", payload, err)
		case err != nil && got != nil:
			t.Fatalf("payload %q: handler ran and the adapter failed", payload)
		case err == nil && got == nil:
			t.Fatalf("payload %q: no error and no handler call", payload)
		case err == nil && got.Validate() != nil:
			t.Fatalf("payload %q: handler got an invalid order %+v", payload, got)
		}
	})
}

// FuzzDeadLetterRoundTrip stores arbitrary payloads, ids and headers as dead
// letters: storing never fails on odd bytes, and a replay would get back
// exactly the payload that arrived.
func FuzzDeadLetterRoundTrip(f *testing.F) {
	db := testenv.DB(f, nil)
	in := newInbox(f, db, nil, inbox.Config{}, nil)
	for _, seed := range [][]byte{[]byte(`{"a":1}`), {0, 1, 2}, []byte("base64:AAAA"), []byte("base64:!!"), {0xc3, 0x28}, nil} {
		f.Add(seed, "id-1", "value")
	}
	f.Fuzz(func(t *testing.T, payload []byte, id, header string) {
		if id == "" {
			id = "empty"
		}
		checkRoundTrip(t, in, db, id, payload, map[string]string{"X": header, header: "y"})
	})
}
