package identity

import "time"

// SetClock makes v read the time from now.
func (v *Verifier) SetClock(now func() time.Time) { v.now = now }

// Remembered is how many verified tokens v keeps.
func (v *Verifier) Remembered() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.seen)
}

const VerifiedMax = verifiedMax
