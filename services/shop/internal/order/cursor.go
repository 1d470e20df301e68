package order

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Cursor is a position in a customer's order list, newest first: the list
// continues with orders placed before (PlacedAt, ID).
type Cursor struct {
	PlacedAt int64 // Unix microseconds
	ID       string
}

// ErrBadCursor is returned for a cursor the shop did not make.
var ErrBadCursor = errors.New("malformed cursor")

// Encode returns the opaque form of the cursor.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte("1:" + strconv.FormatInt(c.PlacedAt, 10) + ":" + c.ID))
}

// DecodeCursor parses an opaque cursor; "" is the start of the list (zero
// cursor, ok false).
func DecodeCursor(s string) (c Cursor, ok bool, err error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	if len(s) > 96 {
		return Cursor{}, false, ErrBadCursor
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return Cursor{}, false, ErrBadCursor
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != "1" {
		return Cursor{}, false, ErrBadCursor
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || at <= 0 || parts[1] != strconv.FormatInt(at, 10) || !ValidID(parts[2]) {
		return Cursor{}, false, ErrBadCursor
	}
	return Cursor{PlacedAt: at, ID: parts[2]}, true, nil
}

// ValidID tells whether s has the form of a UUID in lower-case hex.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
