// Package text is the one check of every text field where it enters Fabrika
// (a form, an API body, a message from the broker): valid UTF-8; no NUL, no
// C0 or C1 control characters (tab and newlines only where a field allows
// several lines); no bidirectional embedding, override or isolate characters
// (which make text read differently from what it is); a length counted in
// characters, not bytes. Such text poisons consumers: PostgreSQL refuses NUL
// in a text column, a terminal or a log viewer obeys controls, a bidi
// override hides what a name or reference really says. It also holds the ISO
// 3166-1 alpha-2 country list, embedded once for every service.
package text

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors of Check; the message of each is fit to show a user beside the
// field ("must not contain control characters").
var (
	ErrRequired = errors.New("is required")
	ErrUTF8     = errors.New("is not valid UTF-8 text")
	ErrControl  = errors.New("must not contain control characters")
	ErrBidi     = errors.New("must not contain bidirectional control characters")
	ErrTooLong  = errors.New("is too long")
)

// Field is the rule of one text field. The zero value allows any length of
// one line, empty included.
type Field struct {
	// Max is the most characters (runes) allowed; 0 means no limit.
	Max int
	// Required refuses an empty value (after the caller's trimming).
	Required bool
	// Multiline allows tab, newline and carriage return.
	Multiline bool
}

// Check tells whether s is acceptable for the field; the error wraps one of
// the Err values and, for ErrTooLong, says the limit.
func (f Field) Check(s string) error {
	if s == "" {
		if f.Required {
			return ErrRequired
		}
		return nil
	}
	if err := check(s, f.Multiline); err != nil {
		return err
	}
	if f.Max > 0 && utf8.RuneCountInString(s) > f.Max {
		return fmt.Errorf("%w: at most %d characters", ErrTooLong, f.Max)
	}
	return nil
}

// Clean tells whether s is free of what poisons a consumer (invalid UTF-8,
// controls but tab and newlines, bidi controls), whatever its length: the
// check of the message contracts, whose producers check lengths.
func Clean(s string) error { return check(s, true) }

func check(s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return ErrUTF8
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			if !multiline {
				return ErrControl
			}
		case r < 0x20 || r >= 0x7f && r <= 0x9f: // C0, DEL, C1
			return ErrControl
		case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069: // LRE..RLO, LRI..PDI
			return ErrBidi
		}
	}
	return nil
}

//go:embed countries.tsv
var countries string

// Country is one entry of ISO 3166-1.
type Country struct {
	Code string // alpha-2, upper case: "DE"
	Name string // English short name: "Germany"
}

// IsCountry tells whether code is an ISO 3166-1 alpha-2 code (upper case).
func IsCountry(code string) bool {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return false
	}
	return strings.Contains(countries, "\n"+code+"\t")
}

// Countries returns every ISO 3166-1 country, ordered by code, for a picker.
func Countries() []Country {
	var out []Country
	for line := range strings.Lines(countries) {
		code, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, Country{Code: code, Name: name})
	}
	return out
}

// CountryName returns the name of a country code, "" when it is not one.
func CountryName(code string) string {
	if !IsCountry(code) {
		return ""
	}
	i := strings.Index(countries, "\n"+code+"\t") + 4
	name, _, _ := strings.Cut(countries[i:], "\n")
	return name
}
