package listquery_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/services/crm/internal/listquery"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw       string
		wantField string // "" means valid
	}{
		{"", ""},
		{"status=priced&channel=api&from=2026-01-01&to=2026-01-31&sort=total&dir=asc&limit=20", ""},
		{"q=Anna+Smith", ""},
		{"status=lost", "status"},
		{"channel=fax", "channel"},
		{"from=2026-13-01", "from"},
		{"from=yesterday", "from"},
		{"from=2026-02-01&to=2026-01-01", "to"},
		{"sort=name", "sort"},
		{"dir=up", "dir"},
		{"limit=0", "limit"},
		{"limit=1000", "limit"},
		{"limit=ten", "limit"},
		{"cursor=garbage", "cursor"},
		{"q=" + strings.Repeat("a", 201), "q"},
		{"q=%21%21%21", "q"},
		{"q=a+b+c+d+e", "q"},
		{"manager=" + strings.Repeat("m", 101), "manager"},
		{"q=%ff%fe", "q"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			v, err := url.ParseQuery(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			_, err = listquery.Parse(v)
			var qe *listquery.Error
			switch {
			case tt.wantField == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantField != "" && (!errors.As(err, &qe) || qe.Field != tt.wantField):
				t.Fatalf("error = %v, want one on field %s", err, tt.wantField)
			}
		})
	}
}

func TestCursorRoundTripAndBinding(t *testing.T) {
	t.Parallel()
	q, err := listquery.Parse(url.Values{"status": {"priced"}})
	if err != nil {
		t.Fatal(err)
	}
	c := listquery.Cursor{Value: 1767225600000000, ID: "0193e7a2-aaaa-7bbb-8ccc-0123456789ab"}
	s := q.EncodeCursor(c)
	got, err := listquery.Parse(url.Values{"status": {"priced"}, "cursor": {s}})
	if err != nil || got.After == nil || *got.After != c {
		t.Fatalf("round trip: %+v, %v", got.After, err)
	}
	// The same cursor on another filter, sort or direction is refused.
	for _, other := range []url.Values{{"status": {"placed"}, "cursor": {s}}, {"status": {"priced"}, "sort": {"total"}, "cursor": {s}},
		{"status": {"priced"}, "dir": {"asc"}, "cursor": {s}}, {"cursor": {s}}} {
		if _, err := listquery.Parse(other); err == nil {
			t.Errorf("cursor accepted for %v", other)
		}
	}
}

func TestTokensAndPrefix(t *testing.T) {
	t.Parallel()
	got := listquery.Tokens("FAB-2026-0042", "Anna Müller", "anna.mueller@example.com", "Acme GmbH")
	for _, want := range []string{"fab", "2026", "0042", "fab20260042", "anna", "müller", "mueller", "example", "com", "acme", "gmbh"} {
		if !slices.Contains(got, want) {
			t.Errorf("tokens %v lack %q", got, want)
		}
	}
	lo, hi := listquery.PrefixRange("abz")
	if lo != "abz" || hi != "ab{" {
		t.Fatalf("PrefixRange = %q, %q", lo, hi)
	}
	for _, tok := range []string{"abz", "abzzz", "abz9"} {
		if !(tok >= lo && tok < hi) {
			t.Errorf("%q not in range", tok)
		}
	}
	if tok := "ac"; tok >= lo && tok < hi {
		t.Errorf("%q in range", tok)
	}
}

// A token's head is its first characters, not bytes: the migration's
// substr(token, 1, 3) on both engines gives the same.
func TestHead(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"mueller": "mue", "müller": "mül", "ab": "ab", "": "", "0042": "004", "ßöü": "ßöü"} {
		if got := listquery.Head(in); got != want {
			t.Errorf("Head(%q) = %q, want %q", in, got, want)
		}
	}
}
