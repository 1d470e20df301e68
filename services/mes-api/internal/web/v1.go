package web

import (
	"net/http"
	"strings"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

// maxOrderBody bounds an order or quote request: 50 lines fit well within.
const maxOrderBody = 256 << 10

func (api *Handler) openapi(w http.ResponseWriter, r *http.Request, _ store.Principal) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPI)
}

func (api *Handler) quote(w http.ResponseWriter, r *http.Request, _ store.Principal) {
	body, err := readJSONBody(w, r, maxOrderBody)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	q, err := api.app.Quote(r.Context(), body)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, q)
}

func (api *Handler) placeOrder(w http.ResponseWriter, r *http.Request, who store.Principal) {
	key := r.Header.Get("Idempotency-Key")
	if strings.TrimSpace(key) == "" {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusBadRequest, "the Idempotency-Key header is required"))
		return
	}
	body, err := readJSONBody(w, r, maxOrderBody)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	p, err := api.app.PlaceOrder(r.Context(), who, key, body)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	if p.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(p.Body)
}

func (api *Handler) getOrder(w http.ResponseWriter, r *http.Request, who store.Principal) {
	o, err := api.app.GetOrder(r.Context(), who.Key.ClientID, r.PathValue("id"))
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, o)
}

func (api *Handler) listOrders(w http.ResponseWriter, r *http.Request, who store.Principal) {
	limit, err := queryLimit(r)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := store.OrderFilter{Status: q.Get("status"), Number: q.Get("number"), Reference: q.Get("reference")}
	p, err := api.app.ListOrders(r.Context(), who.Key.ClientID, f, q.Get("cursor"), limit)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}

func (api *Handler) cancelOrder(w http.ResponseWriter, r *http.Request, who store.Principal) {
	var in struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 && r.Header.Get("Content-Type") != "" {
		if err := httpx.DecodeJSON(w, r, 16<<10, &in); err != nil {
			api.writeError(w, r, err)
			return
		}
	}
	o, err := api.app.RequestCancel(r.Context(), who, r.PathValue("id"), in.Reason)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, o)
}

func (api *Handler) createWebhook(w http.ResponseWriter, r *http.Request, who store.Principal) {
	var in struct {
		URL         string   `json:"url"`
		Events      []string `json:"events"`
		Description string   `json:"description"`
	}
	if err := httpx.DecodeJSON(w, r, 16<<10, &in); err != nil {
		api.writeError(w, r, err)
		return
	}
	e, err := api.app.CreateEndpoint(r.Context(), who.Key.ClientID, in.URL, in.Events, in.Description)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, e)
}

func (api *Handler) listWebhooks(w http.ResponseWriter, r *http.Request, who store.Principal) {
	eps, err := api.app.ListEndpoints(r.Context(), who.Key.ClientID)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": eps})
}

func (api *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request, who store.Principal) {
	if err := api.app.DeleteEndpoint(r.Context(), who.Key.ClientID, r.PathValue("id")); err != nil {
		api.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (api *Handler) listDeliveries(w http.ResponseWriter, r *http.Request, who store.Principal) {
	limit, err := queryLimit(r)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	p, err := api.app.ListDeliveries(r.Context(), who.Key.ClientID, r.PathValue("id"), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}

func (api *Handler) replayDelivery(w http.ResponseWriter, r *http.Request, who store.Principal) {
	d, err := api.app.ReplayDelivery(r.Context(), who.Key.ClientID, r.PathValue("id"))
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, d)
}
