package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Client is a B2B company.
type Client struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Keys      []Key     `json:"keys,omitempty"`
}

// Key is an API key as stored: its hash never leaves the store.
type Key struct {
	ID            string    `json:"id"`
	ClientID      string    `json:"client_id"`
	Prefix        string    `json:"prefix"`
	Scopes        []string  `json:"scopes"`
	RatePerMinute int       `json:"rate_limit_per_minute"`
	CreatedAt     time.Time `json:"created_at"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	LastUsedAt    time.Time `json:"last_used_at,omitzero"`
	hash          string
}

// InsertClient writes a new client.
func (s *Store) InsertClient(ctx context.Context, q sqldb.Querier, c Client) error {
	_, err := q.ExecContext(ctx, `INSERT INTO api_client (id, name, email, created_at) VALUES ($1, $2, $3, $4)`,
		c.ID, c.Name, c.Email, sqldb.Micros(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert client: %w", err)
	}
	return nil
}

// GetClient reads a client with its keys.
func (s *Store) GetClient(ctx context.Context, q sqldb.Querier, id string) (Client, error) {
	var c Client
	var created, revoked int64
	err := q.QueryRowContext(ctx, `SELECT id, name, email, created_at, revoked_at FROM api_client WHERE id = $1`, id).
		Scan(&c.ID, &c.Name, &c.Email, &created, &revoked)
	if err != nil {
		return Client{}, fmt.Errorf("get client %s: %w", id, notFound(err))
	}
	c.CreatedAt, c.RevokedAt = sqldb.FromMicros(created), sqldb.FromMicros(revoked)
	c.Keys, err = clientKeys(ctx, q, id)
	return c, err
}

// ListClients lists every client with its keys, oldest first.
func (s *Store) ListClients(ctx context.Context, q sqldb.Querier) ([]Client, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, email, created_at, revoked_at FROM api_client ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	var out []Client
	for rows.Next() {
		var c Client
		var created, revoked int64
		if err := rows.Scan(&c.ID, &c.Name, &c.Email, &created, &revoked); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list clients: %w", err)
		}
		c.CreatedAt, c.RevokedAt = sqldb.FromMicros(created), sqldb.FromMicros(revoked)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	for i := range out {
		if out[i].Keys, err = clientKeys(ctx, q, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RevokeClient revokes a client and every key of it.
func (s *Store) RevokeClient(ctx context.Context, q sqldb.Querier, id string, at time.Time) error {
	res, err := q.ExecContext(ctx, `UPDATE api_client SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0`, id, sqldb.Micros(at))
	if err != nil {
		return fmt.Errorf("revoke client %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetClient(ctx, q, id); err != nil {
			return err
		}
	}
	if _, err := q.ExecContext(ctx, `UPDATE api_key SET revoked_at = $2 WHERE client_id = $1 AND revoked_at = 0`, id, sqldb.Micros(at)); err != nil {
		return fmt.Errorf("revoke keys of client %s: %w", id, err)
	}
	return nil
}

const keyColumns = `k.id, k.client_id, k.prefix, k.hash, k.scopes, k.rate_per_minute, k.created_at, k.revoked_at, k.last_used_at`

func scanKey(s interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var scopes string
	var created, revoked, used int64
	if err := s.Scan(&k.ID, &k.ClientID, &k.Prefix, &k.hash, &scopes, &k.RatePerMinute, &created, &revoked, &used); err != nil {
		return Key{}, err
	}
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt, k.RevokedAt, k.LastUsedAt = sqldb.FromMicros(created), sqldb.FromMicros(revoked), sqldb.FromMicros(used)
	return k, nil
}

func clientKeys(ctx context.Context, q sqldb.Querier, clientID string) ([]Key, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_key k WHERE k.client_id = $1 ORDER BY k.id`, clientID)
	if err != nil {
		return nil, fmt.Errorf("keys of client %s: %w", clientID, err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("keys of client %s: %w", clientID, err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// InsertKey writes a new key with the hash of its plain form.
func (s *Store) InsertKey(ctx context.Context, q sqldb.Querier, k Key, hash string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO api_key (id, client_id, prefix, hash, scopes, rate_per_minute, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.ClientID, k.Prefix, hash, strings.Join(k.Scopes, " "), k.RatePerMinute, sqldb.Micros(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

// RevokeKey revokes one key of a client.
func (s *Store) RevokeKey(ctx context.Context, q sqldb.Querier, clientID, keyID string, at time.Time) error {
	res, err := q.ExecContext(ctx, `UPDATE api_key SET revoked_at = $3 WHERE id = $1 AND client_id = $2 AND revoked_at = 0`,
		keyID, clientID, sqldb.Micros(at))
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM api_key WHERE id = $1 AND client_id = $2`, keyID, clientID).Scan(&one); err != nil {
			return fmt.Errorf("revoke key %s: %w", keyID, notFound(err))
		}
	}
	return nil
}

// Principal is who a presented key belongs to.
type Principal struct {
	Key        Key
	ClientName string
	Email      string
	Revoked    bool // the key or its client is revoked
}

// KeyByHash finds the key whose hash is given.
func (s *Store) KeyByHash(ctx context.Context, q sqldb.Querier, hash string) (Principal, error) {
	row := q.QueryRowContext(ctx, `SELECT `+keyColumns+`, c.name, c.email, c.revoked_at FROM api_key k
		JOIN api_client c ON c.id = k.client_id WHERE k.hash = $1`, hash)
	var p Principal
	var k Key
	var scopes string
	var created, revoked, used, clientRevoked int64
	err := row.Scan(&k.ID, &k.ClientID, &k.Prefix, &k.hash, &scopes, &k.RatePerMinute, &created, &revoked, &used, &p.ClientName, &p.Email, &clientRevoked)
	if err != nil {
		return Principal{}, fmt.Errorf("key by hash: %w", notFound(err))
	}
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt, k.RevokedAt, k.LastUsedAt = sqldb.FromMicros(created), sqldb.FromMicros(revoked), sqldb.FromMicros(used)
	p.Key = k
	p.Revoked = revoked != 0 || clientRevoked != 0
	return p, nil
}

// TouchKey records that a key was used at at, if its record is older than
// stale (one write a minute per key, not one per request).
func (s *Store) TouchKey(ctx context.Context, q sqldb.Querier, keyID string, at, stale time.Time) error {
	if _, err := q.ExecContext(ctx, `UPDATE api_key SET last_used_at = $2 WHERE id = $1 AND last_used_at < $3`,
		keyID, sqldb.Micros(at), sqldb.Micros(stale)); err != nil {
		return fmt.Errorf("touch key %s: %w", keyID, err)
	}
	return nil
}

// KeyClient returns the client a key belongs to.
func (s *Store) KeyClient(ctx context.Context, q sqldb.Querier, keyID string) (string, error) {
	var id string
	if err := q.QueryRowContext(ctx, `SELECT client_id FROM api_key WHERE id = $1`, keyID).Scan(&id); err != nil {
		return "", fmt.Errorf("key %s: %w", keyID, notFound(err))
	}
	return id, nil
}
