package listquery_test

import (
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/fabrika/fabrika/services/crm/internal/listquery"
)

// FuzzParse: any query string either parses into a query whose canonical
// values parse to the same key, or fails with a *listquery.Error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "status=priced&sort=total&dir=asc", "q=anna%40example.com", "from=2026-01-01&to=2025-01-01",
		"limit=200&cursor=YzEuZGF0ZS5kZXNjLjEuMDAwMDAwMDAuaWQ", "q=%00%ff", "channel=api&manager=bob&customer=c1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := listquery.Parse(v)
		if err != nil {
			if _, ok := err.(*listquery.Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > listquery.MaxLimit || len(q.Words) > listquery.MaxWords {
			t.Fatalf("out of bounds query %+v", q)
		}
		for _, w := range q.Words {
			if !utf8.ValidString(w) {
				t.Fatalf("invalid word %q", w)
			}
		}
		again, err := listquery.Parse(q.Values())
		q.After = nil
		if err != nil || again.Key() != q.Key() {
			t.Fatalf("canonical values do not round trip: %v", err)
		}
	})
}

// FuzzCursor: any string either decodes into a cursor that encodes back to
// itself, or is refused.
func FuzzCursor(f *testing.F) {
	q, _ := listquery.Parse(url.Values{})
	f.Add(q.EncodeCursor(listquery.Cursor{Value: 42, ID: "abc"}))
	f.Add("")
	f.Add("!!!")
	f.Add("YzEuZGF0ZS5kZXNjLi0xLjAwMDAwMDAwLmlk")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := q.DecodeCursor(s)
		if err != nil {
			return
		}
		if c.Value < 0 || c.ID == "" {
			t.Fatalf("bad cursor accepted: %+v", c)
		}
		if q.EncodeCursor(c) != s {
			t.Fatalf("cursor %q decodes to %+v which encodes differently", s, c)
		}
	})
}
