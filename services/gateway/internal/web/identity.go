package web

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway/internal/staff"
)

// clientTokenReuse is how long the token of a client who is not staff is
// reused for its requests to one service: it names only the client's
// address and grants nothing, and signing one for every public request
// would cost the gateway an Ed25519 signature each. It stays valid
// identity.TTL from signing, so a service always gets one valid for 20 more
// seconds.
const clientTokenReuse = 10 * time.Second

// clientTokens remembers the tokens of clients who are not staff, by
// service and client address, in a bounded LRU.
type clientTokens struct {
	c *lru.Cache[string, clientToken]
}

type clientToken struct {
	token string
	made  time.Time
}

func newClientTokens() clientTokens {
	c, err := lru.New[string, clientToken](10_000)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return clientTokens{c: c}
}

// identityToken returns the identity token of a request to the upstream
// service: for a staff member a token made for this one request (a service
// accepts it once), for anyone else a token naming the client's address,
// reused for clientTokenReuse.
func (s *Public) identityToken(upstream, clientAddr string, cur *staff.Current) (string, error) {
	now := s.cfg.Now()
	if cur != nil {
		a := cur.Account
		return s.cfg.Signer.Sign(upstream, identity.Identity{Subject: a.ID, Name: a.Login, Role: a.Role,
			Workstations: a.Workstations, ClientAddr: clientAddr}, now)
	}
	key := upstream + " " + clientAddr
	if t, ok := s.clientTokens.c.Get(key); ok && now.Sub(t.made) < clientTokenReuse && !now.Before(t.made) {
		return t.token, nil
	}
	tok, err := s.cfg.Signer.Sign(upstream, identity.Identity{ClientAddr: clientAddr}, now)
	if err != nil {
		return "", err
	}
	s.clientTokens.c.Add(key, clientToken{token: tok, made: now})
	return tok, nil
}
