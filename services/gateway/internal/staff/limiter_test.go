package staff

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := newLimiter(3, 10*time.Second)
	now := time.Unix(1_000_000, 0)
	for i := range 3 {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait != 10*time.Second {
		t.Fatalf("4th attempt: ok=%v wait=%s, want refused for 10s", ok, wait)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := l.allow("a", now.Add(9*time.Second)); ok {
		t.Fatal("allowed before a token came back")
	}
	if ok, _ := l.allow("a", now.Add(10*time.Second)); !ok {
		t.Fatal("refused after a token came back")
	}
	l.prune(now.Add(time.Hour))
	if len(l.buckets) != 0 {
		t.Fatalf("%d full buckets kept after pruning", len(l.buckets))
	}
}
