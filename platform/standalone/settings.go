package standalone

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fabrika/fabrika/platform/secretbox"
)

// Settings reads a service's own settings (Env.Getenv) into its Config and
// gathers the malformed ones, so that a start fails naming every bad
// variable at once (Err). An unset variable leaves its field alone.
type Settings struct {
	getenv func(string) string
	errs   []error
}

// NewSettings reads the settings from getenv.
func NewSettings(getenv func(string) string) *Settings { return &Settings{getenv: getenv} }

// String is the value of name, or def when it is unset.
func (s *Settings) String(name, def string) string {
	if v := s.getenv(name); v != "" {
		return v
	}
	return def
}

// Parse hands the value of name, when set, to parse; an error it returns is
// recorded under name.
func (s *Settings) Parse(name string, parse func(v string) error) {
	if v := s.getenv(name); v != "" {
		if err := parse(v); err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s: %w", name, err))
		}
	}
}

// Bool sets *dst from name: true or false.
func (s *Settings) Bool(name string, dst *bool) {
	if v := s.getenv(name); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s must be true or false, got %q", name, v))
			return
		}
		*dst = b
	}
}

// Duration sets *dst from name: a positive duration.
func (s *Settings) Duration(name string, dst *time.Duration) {
	if v := s.getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			s.errs = append(s.errs, fmt.Errorf("%s must be a positive duration such as 15m, got %q", name, v))
			return
		}
		*dst = d
	}
}

// Int sets *dst from name: an integer of at least min.
func (s *Settings) Int(name string, dst *int, min int) {
	if v := s.getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			want := fmt.Sprintf("an integer of at least %d", min)
			switch min {
			case 0:
				want = "a non-negative integer"
			case 1:
				want = "a positive integer"
			}
			s.errs = append(s.errs, fmt.Errorf("%s must be %s, got %q", name, want, v))
			return
		}
		*dst = n
	}
}

// Secrets returns the sealing box of the key in name (base64 of 32 random
// bytes, secretbox.ParseKey), nil when it is unset.
func (s *Settings) Secrets(name string) *secretbox.Box {
	var box *secretbox.Box
	s.Parse(name, func(v string) error {
		key, err := secretbox.ParseKey(v)
		if err == nil {
			box, err = secretbox.New(key)
		}
		return err
	})
	return box
}

// Err joins what was malformed; nil when every setting was well-formed.
func (s *Settings) Err() error { return errors.Join(s.errs...) }
