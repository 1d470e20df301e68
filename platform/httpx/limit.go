package httpx

import (
	"net/http"
	"runtime"
	"strconv"
	"time"
)

// Limit lets at most n requests at a time into next; the others wait in
// the order they came (a Go channel queues its blocked senders first come,
// first served). A request that waited maxWait, or whose client went away,
// gets a 503 problem with Retry-After instead.
//
// Why: on a service whose requests are short and CPU-bound (a query and
// its JSON), letting every request in at once makes them share the cores
// and the database, so each takes as long as all of them together and the
// slowest take several times that; in line, each request runs nearly alone
// once admitted and the total time a request spends in the server (wait
// included) varies far less, at the same throughput. n <= 0 means
// DefaultLimit.
func Limit(n int, maxWait time.Duration, next http.Handler) http.Handler {
	if n <= 0 {
		n = DefaultLimit()
	}
	slots := make(chan struct{}, n)
	retryAfter := strconv.Itoa(max(1, int(maxWait.Round(time.Second)/time.Second)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
		default:
			t := time.NewTimer(maxWait)
			select {
			case slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				p := NewProblem(http.StatusServiceUnavailable, "the service is busy; try again shortly")
				p.Headers = map[string]string{"Retry-After": retryAfter}
				WriteProblem(w, r, p)
				return
			case <-r.Context().Done():
				t.Stop()
				WriteProblem(w, r, NewProblem(http.StatusServiceUnavailable, "the request ended while it waited for the service"))
				return
			}
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
}

// DefaultLimit is twice the cores the Go runtime uses: enough to keep the
// cores busy while some requests wait for the database.
func DefaultLimit() int { return 2 * runtime.GOMAXPROCS(0) }
