package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestFloorForwards sends requests through the bare proxy to a real
// upstream: the path, query and headers arrive as sent, the answer comes
// back as given, and a dead upstream is a 502.
func TestFloorForwards(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", r.URL.RequestURI()+" "+r.Header.Get("Accept"))
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "hello")
	}))
	u, stop, err := startFloor(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	get := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", u+"/products/a%2Fb?x=1", nil)
		req.Header.Set("Accept", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := get()
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || string(body) != "hello" || res.Header.Get("X-Seen") != "/products/a%2Fb?x=1 application/json" {
		t.Fatalf("got %d %q, upstream saw %q", res.StatusCode, body, res.Header.Get("X-Seen"))
	}
	up.Close()
	res = get()
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("upstream down: got %d, want 502", res.StatusCode)
	}
}
