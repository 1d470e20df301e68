package delivery

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/netguard"
)

func TestClient(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	// By default the loopback test server is refused at connection time,
	// whatever the URL said at registration.
	_, err := NewClient(netguard.Guard{}, 5*time.Second).Get(srv.URL)
	if !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("production client reached %s: %v", srv.URL, err)
	}
	if hits.Load() != 0 {
		t.Fatal("the server was reached")
	}
	dev := NewClient(netguard.Guard{AllowPrivate: true}, 5*time.Second)
	res, err := dev.Get(srv.URL)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("dev client: %v", err)
	}
	res.Body.Close()
	// Redirects are not followed: a 3xx is a failed attempt.
	res, err = dev.Get(srv.URL + "/redirect")
	if err != nil || res.StatusCode != http.StatusFound || hits.Load() != 2 {
		t.Fatalf("redirect followed: %v %d hits", err, hits.Load())
	}
	res.Body.Close()
}
