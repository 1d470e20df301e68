package ratelimit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := New(func() time.Time { return now })
	for i := range 3 {
		d := l.Allow("k", 3)
		if !d.Allowed || d.Remaining != 2-i || d.Limit != 3 {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := l.Allow("k", 3)
	if d.Allowed || d.RetryAfter != 20*time.Second || d.Remaining != 0 || d.Reset != time.Minute {
		t.Fatalf("4th: %+v", d)
	}
	if !l.Allow("other", 3).Allowed {
		t.Fatal("buckets are shared between keys")
	}
	now = now.Add(20 * time.Second) // one token back
	if d := l.Allow("k", 3); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after refill: %+v", d)
	}
	if l.Allow("k", 3).Allowed {
		t.Fatal("allowed twice after one token came back")
	}
	now = now.Add(time.Hour) // never more than a full bucket
	for i := range 3 {
		if !l.Allow("k", 3).Allowed {
			t.Fatalf("request %d refused after an hour", i)
		}
	}
	if l.Allow("k", 3).Allowed {
		t.Fatal("bucket overfilled")
	}
	// A changed limit starts a fresh bucket.
	if !l.Allow("k", 10).Allowed {
		t.Fatal("new limit not applied")
	}
	l.Forget(0)
	now = now.Add(time.Second)
	l.Forget(0)
	if len(l.buckets) != 0 {
		t.Fatal("idle buckets kept")
	}
}
