package host

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
)

// adminRoutes are internal: the gateway has no route to them. They let a
// person inspect and requeue outbox messages in error and replay or discard
// dead letters (the `fabrika outbox` and `fabrika deadletter` commands do the
// same against the database).
func (h *Host) adminRoutes(mux *http.ServeMux) {
	admin := outbox.NewAdmin(h.DB)
	mux.HandleFunc("GET /admin/outbox", func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("POST /admin/outbox/{id}/retry", func(w http.ResponseWriter, r *http.Request) {
		n, err := admin.Retry(r.Context(), r.PathValue("id"))
		if h.adminFailed(w, r, err, outbox.ErrNotFound) {
			return
		}
		h.Outbox.Wake()
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"requeued": n})
	})
	mux.HandleFunc("POST /admin/outbox/{id}/drop", func(w http.ResponseWriter, r *http.Request) {
		e, err := admin.Drop(r.Context(), r.PathValue("id"))
		if h.adminFailed(w, r, err, outbox.ErrNotFound) {
			return
		}
		h.Log.WarnContext(r.Context(), "outbox message dropped by a person", "message_id", e.ID, "subject", e.Subject, "key", e.Key, "payload", e.Payload)
		httpx.WriteJSON(w, http.StatusOK, e)
	})
	mux.HandleFunc("GET /admin/dead-letters", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		list, err := h.Inbox.DeadLetters(r.Context(), r.URL.Query().Get("status"), limit)
		if err != nil {
			httpx.WriteError(w, r, h.Log, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"dead_letters": list})
	})
	mux.HandleFunc("POST /admin/dead-letters/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("POST /admin/dead-letters/{id}/discard", func(w http.ResponseWriter, r *http.Request) {
		err := h.Inbox.Discard(r.Context(), r.PathValue("id"))
		if h.adminFailed(w, r, err, inbox.ErrNotFound) {
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "discarded"})
	})
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
