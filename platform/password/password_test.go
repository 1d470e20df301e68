package password

import (
	"errors"
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
	h2, err := Hash("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
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
}

// A stored hash is read with the parameters it names; absurd ones are
// refused before any work is done (the shop's copy had no bounds: a hash
// asking for 4 GiB would have been computed).
func TestVerifyRefusesMalformedAndUnbounded(t *testing.T) {
	t.Parallel()
	const tail = "$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1" + tail,
		"$argon2id$v=16$m=64,t=1,p=1" + tail,
		"$argon2id$v=19$m=0,t=1,p=1" + tail,
		"$argon2id$v=19$m=4194304,t=1,p=1" + tail,                 // 4 GiB
		"$argon2id$v=19$m=64,t=100000,p=1" + tail,                 // passes
		"$argon2id$v=19$m=64,t=0,p=1" + tail,                      // no pass
		"$argon2id$v=19$m=64,t=1,p=0" + tail,                      // no lane
		"$argon2id$v=19$m=4096,t=1,p=255" + tail,                  // lanes
		"$argon2id$v=19$m=64,t=1,p=1,x=1" + tail,                  // trailing parameter
		"$argon2id$v=19$m=64,t=1,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA", // short salt
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",          // short key
		"x$argon2id$v=19$m=64,t=1,p=1" + tail,
	} {
		if _, err := Verify("x", bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestHashRefusesParamsOutOfBounds(t *testing.T) {
	t.Parallel()
	for _, p := range []Params{{}, {Memory: MaxMemory + 1, Time: 1, Threads: 1}, {Memory: 64, Time: MaxTime + 1, Threads: 1}, {Memory: 64, Time: 1, Threads: 16}} {
		if _, err := Hash("pw", p); err == nil {
			t.Errorf("Hash with %+v: no error", p)
		}
	}
	if err := Default.Validate(); err != nil {
		t.Fatalf("Default: %v", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, pw string
		min      int
		personal []string
		want     string // a part of the message, "" for accepted
	}{
		{"long enough", "violet tractor spins", StaffChars, nil, ""},
		{"short", "tractor", StaffChars, nil, "at least 12 characters"},
		// 12 bytes but 6 characters: length is counted in characters.
		{"bytes are not characters", "ééééèè", 6, nil, "at least 8 characters"},
		{"multi-byte letters count once", "ключ-от-цеха", StaffChars, nil, ""},
		{"a minimum below the floor is raised", "abc12", 4, nil, "at least 8 characters"},
		{"too long", strings.Repeat("ab", 65), StaffChars, nil, "at most 128"},
		{"invalid UTF-8", "abcdefgh\xff\xfe", 8, nil, "valid text"},
		{"common", "password", 8, nil, "most common"},
		{"common, other case", "BaseBall1", 8, nil, "most common"},
		{"common with digits added", "password123456", StaffChars, nil, "digits or symbols added"},
		{"common with symbols added", "superman!!!!", StaffChars, nil, "digits or symbols added"},
		{"common long", "unbelievable", StaffChars, nil, "most common"},
		{"one character repeated", "zzzzzzzzzzzzzz", StaffChars, nil, "repeated"},
		{"contains the login", "my-jkowalski-pass", StaffChars, []string{"jkowalski"}, "login"},
		{"short personal words are ignored", "violet tractor spins", StaffChars, []string{"vi"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Check(tc.pw, tc.min, tc.personal...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check(%q) = %v, want accepted", tc.pw, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Check(%q) = %v, want %q", tc.pw, err, tc.want)
			}
			var w Weakness
			if err != nil && !errors.As(err, &w) {
				t.Fatalf("Check(%q) = %T, want a Weakness", tc.pw, err)
			}
		})
	}
}

func TestCommonListLoaded(t *testing.T) {
	t.Parallel()
	if n := len(commonSet()); n < 9_000 {
		t.Fatalf("the common-password list has %d entries, want about 10,000", n)
	}
}

func FuzzVerify(f *testing.F) {
	h, err := Hash("seed", cheap)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("seed", h)
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, pw, encoded string) {
		// Keep the fuzzer's work small: what it may compute is bounded anyway.
		if strings.Contains(encoded, "m=") && !strings.Contains(encoded, "m=64,") {
			return
		}
		ok, err := Verify(pw, encoded)
		if ok && err != nil {
			t.Fatalf("Verify = true with error %v", err)
		}
	})
}
