package staff

import (
	"errors"
	"testing"
	"time"
)

// TestGuessingDoesNotLockTheOwnerOut (issue 15.9): someone guessing at an
// account from their address, as fast as they are let, delays the owner
// signing in from another address by a minute at most; the guesser's own
// address waits longer and longer. Before, five wrong passwords locked the
// account for 15 minutes for everyone, and ten attempts at a login refused
// the owner's too.
func TestGuessingDoesNotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.sv.Create(ctx, "owner", pw, RoleAdmin, nil); err != nil {
		t.Fatal(err)
	}
	const guesser, ownerAddr = "198.51.100.66", "192.0.2.7"
	guesses, ownerTries := 0, 0
	var ownerIn time.Duration
	in := false
	start := f.clock.Now()
	for step := 0; step < 30*60/5 && !in; step++ { // 30 minutes in 5-second steps
		if f.sv.Allow(guesser, "owner") == nil {
			guesses++
			if _, _, err := f.sv.SignIn(ctx, "owner", "guess number one", "", guesser, "bot"); !errors.Is(err, ErrSignInFailed) {
				t.Fatalf("a guess: %v", err)
			}
		}
		// The owner tries every 10 s from the fifth minute on.
		if elapsed := f.clock.Now().Sub(start); elapsed >= 5*time.Minute && step%2 == 0 {
			ownerTries++
			if f.sv.Allow(ownerAddr, "owner") == nil {
				if _, _, err := f.sv.SignIn(ctx, "owner", pw, "", ownerAddr, "browser"); err == nil {
					ownerIn, in = elapsed-5*time.Minute, true
				}
			}
		}
		f.clock.Advance(5 * time.Second)
	}
	if !in || ownerIn > time.Minute {
		t.Fatalf("the owner got in after %s (%d tries; %d guesses were let through), want within a minute", ownerIn, ownerTries, guesses)
	}
	var rl *RateLimitedError
	if err := f.sv.Allow(guesser, "owner"); !errors.As(err, &rl) {
		t.Fatalf("the guesser's next attempt: %v, want it delayed", err)
	}
	if guesses > 12 {
		t.Errorf("%d guesses let through in %s", guesses, f.clock.Now().Sub(start))
	}
}
