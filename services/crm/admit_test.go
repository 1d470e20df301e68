package crm_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fabrika/fabrika/services/crm"
)

// TestAdmit: the CRM's routes take Concurrency requests at once and answer
// the others 503 after QueueWait; a negative Concurrency lets all in.
func TestAdmit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		concurrency int
		want        int
	}{
		{"one at a time", 1, http.StatusServiceUnavailable},
		{"no limit", -1, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			entered, release := make(chan struct{}, 1), make(chan struct{})
			h := crm.Admit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/held" {
					entered <- struct{}{}
					<-release
				}
			}), tc.concurrency, 20*time.Millisecond)
			go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/held", nil))
			<-entered
			defer close(release)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/crm/orders", nil))
			if rec.Code != tc.want {
				t.Fatalf("a second request while one is held: %d, want %d", rec.Code, tc.want)
			}
		})
	}
}
