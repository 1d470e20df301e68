package text_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fabrika/fabrika/platform/text"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	one := text.Field{Max: 5}
	multi := text.Field{Max: 50, Multiline: true}
	for _, tc := range []struct {
		f    text.Field
		in   string
		want error
	}{
		{one, "", nil},
		{text.Field{Required: true}, "", text.ErrRequired},
		{one, "Jörg", nil},
		{one, "Größe", nil},              // 5 characters, 7 bytes
		{one, "日本語テキ", nil},              // 5 characters, 15 bytes
		{one, "Größen", text.ErrTooLong}, // 6 characters
		{one, "a\x00b", text.ErrControl},
		{one, "a\tb", text.ErrControl},
		{one, "a\nb", text.ErrControl},
		{multi, "line 1\r\nline\t2", nil},
		{multi, "a\x00b", text.ErrControl},
		{multi, "bell\a", text.ErrControl},
		{multi, "esc\x1b[31m", text.ErrControl},
		{multi, "del\x7f", text.ErrControl},
		{multi, "c1\u0085", text.ErrControl},
		{multi, "c1\u009b", text.ErrControl},
		{multi, "abc\u202Egnp.exe", text.ErrBidi},
		{multi, "\u2066isolate\u2069", text.ErrBidi},
		{multi, "\u202Aembed", text.ErrBidi},
		{multi, "bad \xff utf8", text.ErrUTF8},
		{multi, "עברית and العربية", nil}, // right-to-left text itself is fine
		{multi, "emoji 👍🏽", nil},
	} {
		if err := tc.f.Check(tc.in); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Check(%+v, %q) = %v, want %v", tc.f, tc.in, err, tc.want)
		}
	}
	if err := (text.Field{Max: 3}).Check("abcd"); err == nil || !strings.Contains(err.Error(), "at most 3 characters") {
		t.Errorf("too long says %v", err)
	}
	if err := text.Clean("a\nb\tc"); err != nil {
		t.Errorf("Clean allows newlines and tabs: %v", err)
	}
	if err := text.Clean("a\u0000"); !errors.Is(err, text.ErrControl) {
		t.Errorf("Clean(NUL) = %v", err)
	}
}

func TestCountries(t *testing.T) {
	t.Parallel()
	cs := text.Countries()
	if len(cs) != 249 {
		t.Fatalf("%d countries, ISO 3166-1 has 249", len(cs))
	}
	for i, c := range cs {
		if !text.IsCountry(c.Code) || c.Name == "" || text.CountryName(c.Code) != c.Name {
			t.Errorf("country %+v", c)
		}
		if i > 0 && cs[i-1].Code >= c.Code {
			t.Errorf("not ordered at %s", c.Code)
		}
	}
	for code, ok := range map[string]bool{"DE": true, "US": true, "AT": true, "XK": false, "EU": false, "UK": false, "de": false, "D": false, "DEU": false, "": false, "\tD": false, "#\t": false} {
		if text.IsCountry(code) != ok {
			t.Errorf("IsCountry(%q) = %v", code, !ok)
		}
	}
	if text.CountryName("DE") != "Germany" || text.CountryName("ZZ") != "" {
		t.Errorf("CountryName")
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "Jörg", "a\x00b", "a\u202eb", "line\r\nline", "\xff", "日本", "\u0085"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, multiline bool) {
		fd := text.Field{Max: 10, Multiline: multiline}
		err := fd.Check(s)
		if err != nil {
			return
		}
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 10 {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if r < 0x20 && !(multiline && (r == '\t' || r == '\n' || r == '\r')) || r >= 0x7f && r <= 0x9f ||
				r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Fatalf("accepted %q with %U", s, r)
			}
		}
		if text.Clean(s) != nil {
			t.Fatalf("Check accepts what Clean refuses: %q", s)
		}
	})
}
