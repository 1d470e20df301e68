package host

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/outbox"
)

// TokenSubject is the identity an admin action authorised by the admin
// token (not a staff member's identity token) runs as.
const TokenSubject = "admin-token"

// RequireAdmin lets a request through only with an admin credential:
// "Authorization: Bearer <AdminToken>" (compared in constant time), or a
// staff identity token (identity.Header) with the admin role when a
// verifier is configured. The handler finds the caller with
// identity.FromContext. Without any credential configured every request is
// refused (default deny).
func (h *Host) RequireAdmin(next http.Handler) http.Handler {
	token := []byte(h.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(token) == 0 && h.ident == nil {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusForbidden, "admin actions are disabled: no admin credential is configured (FABRIKA_ADMIN_TOKEN)"))
			return
		}
		if auth := r.Header.Get("Authorization"); auth != "" {
			bearer, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok || len(token) == 0 || subtle.ConstantTimeCompare([]byte(bearer), token) != 1 {
				httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "the admin credential is not valid"))
				return
			}
			id := identity.Identity{Subject: TokenSubject, Name: TokenSubject, Role: identity.RoleAdmin}
			next.ServeHTTP(w, r.WithContext(identity.WithIdentity(r.Context(), id)))
			return
		}
		tok := r.Header.Get(identity.Header)
		if tok == "" || h.ident == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fabrika-admin"`)
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "an admin credential is required"))
			return
		}
		id, err := h.ident.Verify(tok)
		if err != nil {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, "the identity token is not valid"))
			return
		}
		if id.Role != identity.RoleAdmin {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusForbidden, "admin actions need the admin role"))
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.WithIdentity(r.Context(), id)))
	})
}

// adminRoutes are on the admin listener, behind RequireAdmin. They let a
// person inspect and requeue outbox messages in error and replay or discard
// dead letters (the `fabrika outbox` and `fabrika deadletter` commands do the
// same against the database).
func (h *Host) adminRoutes() {
	admin := outbox.NewAdmin(h.DB)
	mux := h.admin
	handle := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, h.RequireAdmin(fn)) }
	handle("GET /admin/outbox", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		status := r.URL.Query().Get("status")
		if status != "" && status != "pending" && status != "error" {
			httpx.WriteProblem(w, r, httpx.Invalid("unknown status", map[string]string{"status": "must be pending or error"}))
			return
		}
		list, err := admin.List(r.Context(), status, limit)
		if err != nil {
			httpx.WriteError(w, r, h.Log, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"messages": list})
	})
	handle("POST /admin/outbox/{id}/retry", func(w http.ResponseWriter, r *http.Request) {
		n, err := admin.Retry(r.Context(), r.PathValue("id"))
		if h.adminFailed(w, r, err, outbox.ErrNotFound) {
			return
		}
		h.Outbox.Wake()
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"requeued": n})
	})
	handle("POST /admin/outbox/{id}/drop", func(w http.ResponseWriter, r *http.Request) {
		e, err := admin.Drop(r.Context(), r.PathValue("id"))
		if h.adminFailed(w, r, err, outbox.ErrNotFound) {
			return
		}
		by, _ := identity.FromContext(r.Context())
		h.Log.WarnContext(r.Context(), "outbox message dropped by a person", "by", by.Name, "message_id", e.ID, "subject", e.Subject, "key", e.Key, "payload", e.Payload)
		httpx.WriteJSON(w, http.StatusOK, e)
	})
	handle("GET /admin/dead-letters", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		list, err := h.Inbox.DeadLetters(r.Context(), r.URL.Query().Get("status"), limit)
		if err != nil {
			httpx.WriteError(w, r, h.Log, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"dead_letters": list})
	})
	handle("POST /admin/dead-letters/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		err := h.Inbox.Replay(r.Context(), r.PathValue("id"))
		if errors.Is(err, inbox.ErrNotFound) {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, err.Error()))
			return
		} else if err != nil {
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusConflict, "replay failed: "+err.Error()))
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "replayed"})
	})
	handle("POST /admin/dead-letters/{id}/discard", func(w http.ResponseWriter, r *http.Request) {
		err := h.Inbox.Discard(r.Context(), r.PathValue("id"))
		if h.adminFailed(w, r, err, inbox.ErrNotFound) {
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "discarded"})
	})
	// The Go runtime's profiles, for `go tool pprof` (docs/runbook.md): what
	// a process spends its CPU on under load. Admin only: a profile shows
	// the program's internals, and a CPU profile costs while it runs.
	handle("GET /debug/pprof/", pprof.Index) // heap, goroutine, allocs, mutex, block...
	handle("GET /debug/pprof/cmdline", pprof.Cmdline)
	handle("GET /debug/pprof/profile", pprof.Profile) // ?seconds=N (under the listener's 60 s write timeout)
	handle("GET /debug/pprof/symbol", pprof.Symbol)
	handle("GET /debug/pprof/trace", pprof.Trace)
}

// adminFailed answers a failed admin operation: 404 for notFound, 500
// otherwise. It tells whether err was an error.
func (h *Host) adminFailed(w http.ResponseWriter, r *http.Request, err, notFound error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, notFound):
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, err.Error()))
	default:
		httpx.WriteError(w, r, h.Log, err)
	}
	return true
}

// HandleOrderTrace serves GET /admin/orders/{ref}/trace on the admin
// listener (admin credential required): what the service knows of an
// order, its own rows from find and, the same for every service, the
// order's messages in its outbox and inbox (ordertrace.Report). `fabrika
// order trace` asks every service. Call before Run.
func (h *Host) HandleOrderTrace(find ordertrace.Finder) {
	h.HandleAdmin("GET /admin/orders/{ref}/trace", ordertrace.Handler(h.cfg.Service, h.DB, find, h.Log))
}
