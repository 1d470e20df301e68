package standalone_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/standalone"
)

func TestSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"S": "x", "B": "false", "D": "90s", "I": "-1", "K": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"BAD_B": "yes please", "BAD_D": "0s", "BAD_I": "1.5", "LOW_I": "0", "BAD_K": "short", "BAD_P": "?"}
	st := standalone.NewSettings(func(k string) string { return env[k] })
	b, d, i, unset := true, time.Minute, 7, 7
	if got := st.String("S", "def"); got != "x" {
		t.Errorf("String = %q", got)
	}
	if got := st.String("UNSET", "def"); got != "def" {
		t.Errorf("String of an unset variable = %q", got)
	}
	st.Bool("B", &b)
	st.Duration("D", &d)
	st.Int("I", &i, -1)
	st.Int("UNSET", &unset, 1)
	if b || d != 90*time.Second || i != -1 || unset != 7 {
		t.Errorf("b=%v d=%v i=%d unset=%d", b, d, i, unset)
	}
	if st.Secrets("K") == nil || st.Secrets("UNSET") != nil {
		t.Error("Secrets: a set key gives a box, an unset one none")
	}
	if err := st.Err(); err != nil {
		t.Fatalf("well-formed settings: %v", err)
	}
	st.Bool("BAD_B", &b)
	st.Duration("BAD_D", &d)
	st.Int("BAD_I", &i, 0)
	st.Int("LOW_I", &i, 1)
	st.Secrets("BAD_K")
	st.Parse("BAD_P", func(string) error { return errors.New("no such thing") })
	if b || d != 90*time.Second || i != -1 {
		t.Errorf("a malformed value changed a field: b=%v d=%v i=%d", b, d, i)
	}
	err := st.Err()
	for _, name := range []string{"BAD_B", "BAD_D", "BAD_I", "LOW_I", "BAD_K", "BAD_P"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s: %v", name, err)
		}
	}
}
