package web

import (
	"net/http"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

func (api *Handler) createClient(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := httpx.DecodeJSON(w, r, 16<<10, &in); err != nil {
		api.writeError(w, r, err)
		return
	}
	c, err := api.app.CreateClient(r.Context(), in.Name, in.Email)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, c)
}

func (api *Handler) listClients(w http.ResponseWriter, r *http.Request) {
	cs, err := api.app.ListClients(r.Context())
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	if cs == nil {
		cs = []store.Client{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": cs})
}

func (api *Handler) getClient(w http.ResponseWriter, r *http.Request) {
	c, err := api.app.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, c)
}

func (api *Handler) revokeClient(w http.ResponseWriter, r *http.Request) {
	if err := api.app.RevokeClient(r.Context(), r.PathValue("id")); err != nil {
		api.writeError(w, r, err)
		return
	}
	api.getClient(w, r)
}

func (api *Handler) createKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Scopes        []string `json:"scopes"`
		RatePerMinute int      `json:"rate_limit_per_minute"`
	}
	if err := httpx.DecodeJSON(w, r, 16<<10, &in); err != nil {
		api.writeError(w, r, err)
		return
	}
	k, err := api.app.CreateKey(r.Context(), r.PathValue("id"), in.Scopes, in.RatePerMinute)
	if err != nil {
		api.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, k)
}

func (api *Handler) revokeKey(w http.ResponseWriter, r *http.Request) {
	if err := api.app.RevokeKey(r.Context(), r.PathValue("id"), r.PathValue("key_id")); err != nil {
		api.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
