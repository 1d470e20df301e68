package web

import (
	"net/http"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
)

func (h *Handler) apiOrders(w http.ResponseWriter, r *http.Request) {
	q, err := listquery.Parse(r.URL.Query())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	page, err := h.app.ListOrders(r.Context(), q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", page.ETag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if matches(r.Header.Get("If-None-Match"), page.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(page.JSON)
}

func (h *Handler) apiOrder(w http.ResponseWriter, r *http.Request) {
	card, err := h.app.OrderCard(r.Context(), r.PathValue("id"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, card)
}

func (h *Handler) apiCustomer(w http.ResponseWriter, r *http.Request) {
	card, err := h.app.CustomerCard(r.Context(), r.PathValue("id"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, card)
}

func (h *Handler) apiStuck(w http.ResponseWriter, r *http.Request) {
	rows, parked, err := h.app.Stuck(r.Context(), 500)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if rows == nil {
		rows = []app.StuckOrder{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"orders": rows, "parked_events": parked})
}

// actionBody is the JSON body of an action. Version may come in If-Match
// instead; Amount is in minor units.
type actionBody struct {
	Version int64  `json:"version"`
	Reason  string `json:"reason"`
	Manager string `json:"manager"`
	Note    string `json:"note"`
	Kind    string `json:"kind"`
	Amount  int64  `json:"amount"`
}

func (h *Handler) apiAction(w http.ResponseWriter, r *http.Request) {
	kind, ok := actionKind(r.PathValue("action"))
	if !ok {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, "unknown action "+r.PathValue("action")))
		return
	}
	var b actionBody
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(w, r, 16<<10, &b); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if im := r.Header.Get("If-Match"); im != "" {
		v, ok := parseVersion(im)
		if !ok {
			httpx.WriteProblem(w, r, httpx.Invalid("If-Match must hold the order version", map[string]string{"version": "must be a positive number"}))
			return
		}
		if b.Version != 0 && b.Version != v {
			httpx.WriteProblem(w, r, httpx.Invalid("If-Match and version disagree", map[string]string{"version": "differs from If-Match"}))
			return
		}
		b.Version = v
	}
	if b.Version == 0 {
		p := httpx.NewProblem(http.StatusPreconditionRequired, `send the order version you saw as "version" or in If-Match`)
		p.Errors = map[string]string{"version": "is required"}
		httpx.WriteProblem(w, r, p)
		return
	}
	o, err := h.app.Act(r.Context(), r.PathValue("id"), app.Action{Kind: kind, Version: b.Version, By: actor(r), Reason: b.Reason,
		Manager: b.Manager, Note: b.Note, CompKind: b.Kind, Amount: b.Amount})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, o)
}
