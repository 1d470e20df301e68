package web

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func withIfMatch(h string) *http.Request {
	r := httptest.NewRequest("PUT", "/pricing/settings", nil)
	r.Header.Set("If-Match", h)
	return r
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	cases := map[string]int64{"": 0, "*": 0, `"7"`: 7, `W/"12"`: 12, "3": 3}
	for h, want := range cases {
		if got, err := ifMatch(withIfMatch(h)); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", h, got, err, want)
		}
	}
	for _, h := range []string{`"0"`, `"-3"`, `"x"`, `""`, `"99999999999999999999"`} {
		if _, err := ifMatch(withIfMatch(h)); err == nil {
			t.Errorf("%q accepted", h)
		}
	}
}

func FuzzIfMatch(f *testing.F) {
	for _, s := range []string{"", "*", `"7"`, `W/"7"`, "7", `"0"`, `"-3"`, `"x"`, `""`, `"99999999999999999999"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		v, err := ifMatch(withIfMatch(h))
		if err != nil && v != 0 || v < 0 {
			t.Fatalf("%q: %d %v", h, v, err)
		}
		if err == nil && v > 0 {
			// A version accepted is one an ETag could have said.
			if got, _ := ifMatch(withIfMatch(strconv.Quote(strconv.FormatInt(v, 10)))); got != v {
				t.Fatalf("%q: %d does not round trip", h, v)
			}
		}
	})
}
