package web

import (
	"net/http"
	"net/url"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/services/mes-operator/internal/app"
)

// HeaderReplayed marks the answer to a retried action that was applied
// before.
const HeaderReplayed = "Idempotent-Replayed"

type workstationJSON struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

func (h *Handler) apiWorkstations(w http.ResponseWriter, r *http.Request) {
	ws, err := h.uc.Workstations(r.Context(), actor(r))
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	out := make([]workstationJSON, 0, len(ws))
	for _, x := range ws {
		out = append(out, workstationJSON{x.Code, x.Name})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"workstations": out})
}

func (h *Handler) apiQueue(w http.ResponseWriter, r *http.Request) {
	q, err := h.uc.WorkstationQueue(r.Context(), actor(r), r.PathValue("ws"))
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"workstation": workstationJSON{q.Workstation.Code, q.Workstation.Name},
		"operations":  q.Items,
	})
}

func (h *Handler) apiOperation(w http.ResponseWriter, r *http.Request) {
	op, err := h.uc.Operation(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, op)
}

func (h *Handler) apiOrder(w http.ResponseWriter, r *http.Request) {
	o, err := h.uc.Order(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, o)
}

func (h *Handler) apiAct(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	act, err := ParseAction(r.PathValue("action"), body)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	res, err := h.uc.Act(r.Context(), actor(r), r.PathValue("id"), act)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	writeResult(w, res)
}

func (h *Handler) apiShip(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	s, err := ParseShipment(body)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	res, err := h.uc.Ship(r.Context(), actor(r), r.PathValue("id"), s)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	writeResult(w, res)
}

// writeResult writes an action's stored answer as it was first given.
func writeResult(w http.ResponseWriter, res app.Result) {
	w.Header().Set("Content-Type", "application/json")
	if res.Replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	w.WriteHeader(res.Status)
	_, _ = w.Write(res.Body)
	if len(res.Body) == 0 || res.Body[len(res.Body)-1] != '\n' {
		_, _ = w.Write([]byte("\n"))
	}
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
