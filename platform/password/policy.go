package password

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The policy a new password must meet (OWASP ASVS 2.1, NIST SP 800-63B
// 3.1.1.2): a length counted in characters, not bytes; no composition
// rules; not one of the most common passwords, nor one with only digits or
// symbols added; not the account's own name.
const (
	// FloorChars is the least minimum any caller gets: a caller asking for
	// less is raised to it.
	FloorChars = 8
	// StaffChars is the minimum for staff accounts.
	StaffChars = 12
	// MaxChars is the longest password accepted.
	MaxChars = 128
)

// common holds the 10,000 most common passwords, one a line, lower case:
// Passwords/Common-Credentials/10k-most-common.txt of SecLists
// (github.com/danielmiessler/SecLists, MIT licence), drawn from Mark
// Burnett's list of leaked passwords.
//
//go:embed common.txt
var common string

var commonSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10_000)
	for line := range strings.Lines(common) {
		if w := strings.ToLower(strings.TrimSpace(line)); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// Weakness is why a password is refused, phrased for the person choosing it
// ("must be at least 12 characters").
type Weakness string

func (w Weakness) Error() string { return string(w) }

// Check tells whether pw may be chosen as a new password: at least
// minChars characters (never fewer than FloorChars), at most MaxChars, not
// a common password (also after dropping digits and symbols added at its
// end), not one character repeated, and not containing any of personal (the
// login, the e-mail address: words of 4 characters or more). It returns nil
// or a Weakness.
func Check(pw string, minChars int, personal ...string) error {
	minChars = max(minChars, FloorChars)
	if !utf8.ValidString(pw) {
		return Weakness("must be valid text")
	}
	switch n := utf8.RuneCountInString(pw); {
	case n < minChars:
		return Weakness(fmt.Sprintf("must be at least %d characters", minChars))
	case n > MaxChars:
		return Weakness(fmt.Sprintf("must be at most %d characters", MaxChars))
	}
	low := strings.ToLower(pw)
	if first, _ := utf8.DecodeRuneInString(low); strings.Trim(low, string(first)) == "" {
		return Weakness("must not be one character repeated")
	}
	set := commonSet()
	if _, ok := set[low]; ok {
		return Weakness("is one of the most common passwords; choose another")
	}
	base := strings.TrimRightFunc(low, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r == ' ' })
	if _, ok := set[base]; ok && utf8.RuneCountInString(base) >= 4 {
		return Weakness("is a common password with digits or symbols added; choose another")
	}
	for _, p := range personal {
		p = strings.ToLower(strings.TrimSpace(p))
		if utf8.RuneCountInString(p) >= 4 && strings.Contains(low, p) {
			return Weakness("must not contain your login or e-mail address")
		}
	}
	return nil
}
