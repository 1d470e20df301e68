package password

import (
	"strings"
	"testing"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h1, err := Hash("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := Hash("correct horse battery", cheap)
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected encoding %q", h1)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"correct horse batter", false}, {"", false}} {
		ok, err := Verify(tc.pw, h1)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "plain"} {
		if _, err := Verify("x", bad); err == nil {
			t.Errorf("Verify accepted malformed hash %q", bad)
		}
	}
}
