package jsonx_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/jsonx"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\x00\x7f\xff", "\u2028", "é\"\\", "tab\there\nnew\\line\x01\x1f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := jsonx.AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

func TestAppendTime(t *testing.T) {
	t.Parallel()
	for _, at := range []time.Time{
		{},
		time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC),
		time.Unix(1_700_000_000, 0).In(time.FixedZone("x", 3600)),
	} {
		want, err := json.Marshal(at)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonx.AppendTime(nil, at); string(got) != string(want) {
			t.Errorf("%v: got %s, want %s", at, got, want)
		}
	}
}
