package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// clock is a test clock that tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_000_000, 0)} }

func TestLimiterBucket(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := New(PerMinute(3), 0, c.now)
	for i := range 3 {
		d := l.Allow("k")
		if !d.Allowed || d.Remaining != 2-i || d.Limit != 3 {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := l.Allow("k")
	if d.Allowed || d.RetryAfter != 20*time.Second || d.Remaining != 0 || d.Reset != time.Minute {
		t.Fatalf("4th: %+v", d)
	}
	if !l.Allow("other").Allowed {
		t.Fatal("buckets are shared between keys")
	}
	c.add(20 * time.Second) // one event back
	if d := l.Allow("k"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after refill: %+v", d)
	}
	if l.Allow("k").Allowed {
		t.Fatal("allowed twice after one event came back")
	}
	c.add(time.Hour) // never more than a full bucket
	for i := range 3 {
		if !l.Allow("k").Allowed {
			t.Fatalf("request %d refused after an hour", i)
		}
	}
	if l.Allow("k").Allowed {
		t.Fatal("bucket overfilled")
	}
	// A key with its own rate; a changed rate starts a full bucket.
	if !l.AllowRate("k", PerMinute(10)).Allowed {
		t.Fatal("new rate not applied")
	}
	if d := l.AllowRate("api", Rate{Events: 2, Per: time.Second}); !d.Allowed || d.Limit != 2 || d.Remaining != 1 {
		t.Fatalf("own rate: %+v", d)
	}
}

// A flood of new keys in a full limiter evicts the least recently used
// keys one by one, never all of them: a key still in use keeps its count.
func TestLimiterBoundedLRU(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := New(PerMinute(2), 100, c.now)
	l.Allow("victim")
	l.Allow("victim")
	for i := range 1000 {
		l.Allow(fmt.Sprint("flood-", i))
		if i%50 == 0 {
			if l.Allow("victim").Allowed { // the victim's use keeps it recent
				t.Fatalf("the flood reset a key in use after %d keys", i)
			}
		}
		if n := l.Len(); n > 100 {
			t.Fatalf("%d keys tracked, bound 100", n)
		}
	}
	if l.Len() != 100 {
		t.Fatalf("%d keys tracked after the flood; want a full cache of 100, not an emptied one", l.Len())
	}
}

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := Backoff{Free: 2, Base: time.Second, Max: 10 * time.Second}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{0, 0}, {1, 0}, {2, 0}, {3, time.Second}, {4, 2 * time.Second}, {5, 4 * time.Second},
		{6, 8 * time.Second}, {7, 10 * time.Second}, {1000, 10 * time.Second}} {
		if got := b.Delay(tc.n); got != tc.want {
			t.Errorf("Delay(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	c := newClock()
	th := NewThrottle(Backoff{Free: 1, Base: time.Second, Max: 4 * time.Second, Forget: time.Minute}, 0, c.now)
	if th.Wait("a") != 0 {
		t.Fatal("a new key waits")
	}
	if n, w := th.Fail("a"); n != 1 || w != 0 || th.Wait("a") != 0 {
		t.Fatalf("a free failure imposed a wait: n=%d w=%s", n, w)
	}
	if n, w := th.Fail("a"); n != 2 || w != time.Second || th.Wait("a") != time.Second {
		t.Fatalf("2nd failure: n=%d w=%s wait=%s", n, w, th.Wait("a"))
	}
	c.add(600 * time.Millisecond)
	if w := th.Wait("a"); w != 400*time.Millisecond {
		t.Fatalf("wait counts down: %s", w)
	}
	c.add(400 * time.Millisecond)
	if th.Wait("a") != 0 {
		t.Fatal("still waiting once the delay passed: that is a lock-out")
	}
	for range 5 {
		th.Fail("a")
	}
	if w := th.Wait("a"); w != 4*time.Second {
		t.Fatalf("capped wait: %s", w)
	}
	if th.Wait("b") != 0 {
		t.Fatal("keys share failures")
	}
	c.add(time.Minute + time.Second)
	if n, _ := th.Fail("a"); n != 1 {
		t.Fatalf("failures not forgotten after Forget: %d", n)
	}
	th.Fail("a")
	th.Reset("a")
	if th.Wait("a") != 0 {
		t.Fatal("reset kept the wait")
	}
}

// An attacker with many addresses cannot flush the failure count of an
// account under attack by filling the throttle with new keys.
func TestThrottleFloodKeepsActiveKeys(t *testing.T) {
	t.Parallel()
	c := newClock()
	th := NewThrottle(Backoff{Free: 0, Base: time.Minute, Max: time.Hour}, 50, c.now)
	th.Fail("admin")
	for i := range 500 {
		th.Fail(fmt.Sprint("10.0.", i/256, ".", i%256))
		if i%10 == 0 && th.Wait("admin") == 0 {
			t.Fatalf("flood of %d keys flushed the account's failures", i)
		}
	}
	if th.Len() != 50 {
		t.Fatalf("%d keys after the flood, bound 50", th.Len())
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  func(t *testing.T, s *SignIn, c *clock)
	}{
		{"the owner from another address waits at most Account.Max", func(t *testing.T, s *SignIn, c *clock) {
			for i := range 50 {
				if v := s.Check("ann", "6.6.6.6"); v.Wait > 0 {
					c.add(v.Wait) // a patient attacker
				}
				s.Failed("ann", fmt.Sprint("6.6.", i, ".1"))
			}
			if v := s.Check("ann", "1.2.3.4"); v.Wait > time.Minute || v.Scope != ScopeAccount {
				t.Fatalf("owner verdict %+v", v)
			}
		}},
		{"one guesser against one account is slowed far more", func(t *testing.T, s *SignIn, c *clock) {
			var v Verdict
			for range 12 {
				c.add(s.Check("ann", "6.6.6.6").Wait)
				v = s.Failed("ann", "6.6.6.6")
			}
			if v.Wait <= time.Minute || v.Scope != ScopeAccount {
				t.Fatalf("pair verdict %+v", v)
			}
			if w := s.Check("ann", "1.2.3.4").Wait; w > time.Minute {
				t.Fatalf("the owner elsewhere waits %s", w)
			}
		}},
		{"one address guessing many accounts", func(t *testing.T, s *SignIn, c *clock) {
			for i := range 25 {
				c.add(s.Check(fmt.Sprint("user", i), "6.6.6.6").Wait)
				s.Failed(fmt.Sprint("user", i), "6.6.6.6")
			}
			v := s.Check("someone-else", "6.6.6.6")
			if v.Wait == 0 || v.Scope != ScopeAddress {
				t.Fatalf("address verdict %+v", v)
			}
			if w := s.Check("someone-else", "1.2.3.4").Wait; w != 0 {
				t.Fatalf("another address waits %s", w)
			}
		}},
		{"success clears the account but not the address", func(t *testing.T, s *SignIn, c *clock) {
			for range 8 {
				c.add(s.Check("ann", "1.1.1.1").Wait)
				s.Failed("ann", "1.1.1.1")
			}
			for i := range 25 {
				c.add(s.Check("mallory", "6.6.6.6").Wait)
				s.Failed(fmt.Sprint("u", i), "6.6.6.6")
			}
			s.Succeeded("mallory", "6.6.6.6")
			s.Succeeded("ann", "1.1.1.1")
			if v := s.Check("ann", "1.1.1.1"); v.Wait != 0 {
				t.Fatalf("after success: %+v", v)
			}
			if v := s.Check("x", "6.6.6.6"); v.Wait == 0 {
				t.Fatal("a success reset the address's failures")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			tc.run(t, NewSignIn(SignInConfig{Now: c.now}), c)
		})
	}
}
