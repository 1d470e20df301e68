// Package backoff is the one exponential backoff of Fabrika's retries: the
// outbox's publishes, the inbox's redeliveries, the webhook deliveries and
// the throttle of failed sign-ins each take their wait from Exponential and
// add their own jitter.
package backoff

import "time"

// Exponential is the wait after n failures: base after the first, twice as
// long after each one more, never more than max (base for n < 1).
func Exponential(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		if d > max/2 {
			return max // d*2 would pass max (and might overflow)
		}
		d *= 2
	}
	return min(d, max)
}
