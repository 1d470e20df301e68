package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Endpoint is a client's webhook endpoint. Secret is only shown when made.
type Endpoint struct {
	ID          string    `json:"id"`
	ClientID    string    `json:"-"`
	URL         string    `json:"url"`
	Secret      string    `json:"secret,omitempty"`
	Events      []string  `json:"events"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	DeletedAt   time.Time `json:"-"`
}

// Wants tells whether the endpoint subscribes to an event type.
func (e Endpoint) Wants(event string) bool {
	if len(e.Events) == 0 {
		return true
	}
	for _, x := range e.Events {
		if x == event {
			return true
		}
	}
	return false
}

// InsertEndpoint writes a new endpoint.
func (s *Store) InsertEndpoint(ctx context.Context, q sqldb.Querier, e Endpoint) error {
	_, err := q.ExecContext(ctx, `INSERT INTO webhook_endpoint (id, client_id, url, secret, events, description, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.ID, e.ClientID, e.URL, e.Secret, strings.Join(e.Events, " "), e.Description, sqldb.Micros(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert webhook endpoint: %w", err)
	}
	return nil
}

const endpointColumns = `id, client_id, url, secret, events, description, created_at, deleted_at`

func scanEndpoint(s interface{ Scan(...any) error }) (Endpoint, error) {
	var e Endpoint
	var events string
	var created, deleted int64
	if err := s.Scan(&e.ID, &e.ClientID, &e.URL, &e.Secret, &events, &e.Description, &created, &deleted); err != nil {
		return Endpoint{}, err
	}
	e.Events = strings.Fields(events)
	if e.Events == nil {
		e.Events = []string{}
	}
	e.CreatedAt, e.DeletedAt = sqldb.FromMicros(created), sqldb.FromMicros(deleted)
	return e, nil
}

// GetEndpoint reads a live endpoint of a client ("" for any client),
// with its secret.
func (s *Store) GetEndpoint(ctx context.Context, q sqldb.Querier, clientID, id string) (Endpoint, error) {
	e, err := scanEndpoint(q.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoint WHERE id = $1 AND deleted_at = 0`, id))
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook endpoint %s: %w", id, notFound(err))
	}
	if clientID != "" && e.ClientID != clientID {
		return Endpoint{}, fmt.Errorf("webhook endpoint %s: %w", id, ErrNotFound)
	}
	return e, nil
}

// ListEndpoints lists a client's live endpoints, with their secrets.
func (s *Store) ListEndpoints(ctx context.Context, q sqldb.Querier, clientID string) ([]Endpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoint WHERE client_id = $1 AND deleted_at = 0 ORDER BY id`, clientID)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhook endpoints: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteEndpoint deletes a client's endpoint; its pending deliveries fail.
func (s *Store) DeleteEndpoint(ctx context.Context, q sqldb.Querier, clientID, id string, at time.Time) error {
	res, err := q.ExecContext(ctx, `UPDATE webhook_endpoint SET deleted_at = $3 WHERE id = $1 AND client_id = $2 AND deleted_at = 0`,
		id, clientID, sqldb.Micros(at))
	if err != nil {
		return fmt.Errorf("delete webhook endpoint %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete webhook endpoint %s: %w", id, ErrNotFound)
	}
	_, err = q.ExecContext(ctx, `UPDATE webhook_delivery SET status = $2, last_error = 'endpoint deleted', updated_at = $3
		WHERE endpoint_id = $1 AND status = $4`, id, DeliveryFailed, sqldb.Micros(at), DeliveryPending)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint %s: %w", id, err)
	}
	return nil
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one message to one endpoint and the state of its sending.
type Delivery struct {
	ID             string    `json:"id"`
	MsgID          string    `json:"webhook_id"`
	EndpointID     string    `json:"endpoint_id"`
	ClientID       string    `json:"-"`
	OrderID        string    `json:"order_id"`
	EventType      string    `json:"event_type"`
	Payload        string    `json:"-"`
	Status         string    `json:"status"`
	Attempts       int       `json:"attempts"`
	NextAttemptAt  time.Time `json:"next_attempt_at,omitzero"`
	LastStatusCode int       `json:"last_status_code,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	ReplayOf       string    `json:"replay_of,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	GiveUpAt       time.Time `json:"give_up_at"`
	Log            []Attempt `json:"attempt_log,omitempty"`
}

// Attempt is one try at posting a delivery.
type Attempt struct {
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMS float64   `json:"duration_ms"`
}

// InsertDelivery writes a pending delivery.
func (s *Store) InsertDelivery(ctx context.Context, q sqldb.Querier, d Delivery) error {
	_, err := q.ExecContext(ctx, `INSERT INTO webhook_delivery (id, msg_id, endpoint_id, client_id, order_id, event_type, payload,
		status, next_attempt_at, replay_of, created_at, updated_at, give_up_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)`,
		d.ID, d.MsgID, d.EndpointID, d.ClientID, d.OrderID, d.EventType, d.Payload, DeliveryPending,
		sqldb.Micros(d.NextAttemptAt), d.ReplayOf, sqldb.Micros(d.CreatedAt), sqldb.Micros(d.GiveUpAt))
	if err != nil {
		return fmt.Errorf("insert webhook delivery: %w", err)
	}
	return nil
}

const deliveryColumns = `id, msg_id, endpoint_id, client_id, order_id, event_type, payload, status, attempts, next_attempt_at,
	last_status_code, last_error, replay_of, created_at, updated_at, give_up_at`

func scanDelivery(s interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var next, created, updated, giveUp int64
	if err := s.Scan(&d.ID, &d.MsgID, &d.EndpointID, &d.ClientID, &d.OrderID, &d.EventType, &d.Payload, &d.Status, &d.Attempts,
		&next, &d.LastStatusCode, &d.LastError, &d.ReplayOf, &created, &updated, &giveUp); err != nil {
		return Delivery{}, err
	}
	if d.Status == DeliveryPending {
		d.NextAttemptAt = sqldb.FromMicros(next)
	}
	d.CreatedAt, d.UpdatedAt, d.GiveUpAt = sqldb.FromMicros(created), sqldb.FromMicros(updated), sqldb.FromMicros(giveUp)
	return d, nil
}

// GetDelivery reads a client's delivery ("" for any client) with its log.
func (s *Store) GetDelivery(ctx context.Context, q sqldb.Querier, clientID, id string) (Delivery, error) {
	d, err := scanDelivery(q.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_delivery WHERE id = $1`, id))
	if err != nil {
		return Delivery{}, fmt.Errorf("webhook delivery %s: %w", id, notFound(err))
	}
	if clientID != "" && d.ClientID != clientID {
		return Delivery{}, fmt.Errorf("webhook delivery %s: %w", id, ErrNotFound)
	}
	d.Log, err = attempts(ctx, q, id)
	return d, err
}

// ListDeliveries lists an endpoint's deliveries newest first, those with an
// id below before when it is set, with their attempt logs.
func (s *Store) ListDeliveries(ctx context.Context, q sqldb.Querier, endpointID, before string, limit int) ([]Delivery, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_delivery
		WHERE endpoint_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3`, endpointID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list webhook deliveries: %w", err)
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	for i := range out {
		if out[i].Log, err = attempts(ctx, q, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func attempts(ctx context.Context, q sqldb.Querier, deliveryID string) ([]Attempt, error) {
	rows, err := q.QueryContext(ctx, `SELECT n, at, status_code, error, duration_us FROM webhook_attempt WHERE delivery_id = $1 ORDER BY n`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("webhook attempts: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at, us int64
		if err := rows.Scan(&a.N, &at, &a.StatusCode, &a.Error, &us); err != nil {
			return nil, fmt.Errorf("webhook attempts: %w", err)
		}
		a.At, a.DurationMS = sqldb.FromMicros(at), float64(us)/1000
		out = append(out, a)
	}
	return out, rows.Err()
}

// DueDelivery is a claimed delivery with where to send it.
type DueDelivery struct {
	Delivery
	URL    string
	Secret string
}

// ClaimDue leases up to limit pending deliveries whose time has come to
// owner until leaseUntil. A lease held by a worker that died expires.
func (s *Store) ClaimDue(ctx context.Context, q sqldb.Querier, now, leaseUntil time.Time, limit int) ([]DueDelivery, error) {
	rows, err := q.QueryContext(ctx, `SELECT d.id FROM webhook_delivery d
		WHERE d.status = $1 AND d.next_attempt_at <= $2 AND d.lease_until < $2 ORDER BY d.next_attempt_at LIMIT $3`,
		DeliveryPending, sqldb.Micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("due webhook deliveries: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("due webhook deliveries: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due webhook deliveries: %w", err)
	}
	var out []DueDelivery
	for _, id := range ids {
		res, err := q.ExecContext(ctx, `UPDATE webhook_delivery SET lease_until = $2 WHERE id = $1 AND status = $3 AND lease_until < $4`,
			id, sqldb.Micros(leaseUntil), DeliveryPending, sqldb.Micros(now))
		if err != nil {
			return nil, fmt.Errorf("lease webhook delivery %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // another worker took it
		}
		row := q.QueryRowContext(ctx, `SELECT `+prefixed("d.", deliveryColumns)+`, e.url, e.secret FROM webhook_delivery d
			JOIN webhook_endpoint e ON e.id = d.endpoint_id WHERE d.id = $1`, id)
		var dd DueDelivery
		var next, created, updated, giveUp int64
		d := &dd.Delivery
		if err := row.Scan(&d.ID, &d.MsgID, &d.EndpointID, &d.ClientID, &d.OrderID, &d.EventType, &d.Payload, &d.Status, &d.Attempts,
			&next, &d.LastStatusCode, &d.LastError, &d.ReplayOf, &created, &updated, &giveUp, &dd.URL, &dd.Secret); err != nil {
			return nil, fmt.Errorf("read webhook delivery %s: %w", id, err)
		}
		d.NextAttemptAt, d.CreatedAt, d.UpdatedAt, d.GiveUpAt = sqldb.FromMicros(next), sqldb.FromMicros(created), sqldb.FromMicros(updated), sqldb.FromMicros(giveUp)
		out = append(out, dd)
	}
	return out, nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// RecordAttempt logs an attempt and sets the delivery's new state: status
// delivered, failed or pending again at next. A delivery failed meanwhile
// (its endpoint was deleted while it was being posted) stays failed.
func (s *Store) RecordAttempt(ctx context.Context, q sqldb.Querier, id string, a Attempt, status string, next time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO webhook_attempt (delivery_id, n, at, status_code, error, duration_us) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, a.N, sqldb.Micros(a.At), a.StatusCode, a.Error, int64(a.DurationMS*1000))
	if err != nil {
		return fmt.Errorf("log webhook attempt %s: %w", id, err)
	}
	_, err = q.ExecContext(ctx, `UPDATE webhook_delivery SET status = $2, attempts = $3, next_attempt_at = $4, lease_until = 0,
		last_status_code = $5, last_error = $6, updated_at = $7 WHERE id = $1 AND status = $8`,
		id, status, a.N, sqldb.Micros(next), a.StatusCode, a.Error, sqldb.Micros(a.At), DeliveryPending)
	if err != nil {
		return fmt.Errorf("update webhook delivery %s: %w", id, err)
	}
	return nil
}

// EndpointSecret is the stored secret of an endpoint (deleted ones too).
type EndpointSecret struct {
	ID     string
	Secret string
}

// EndpointSecrets lists every endpoint's stored secret, to seal the plain
// ones of a database from before encryption at rest.
func (s *Store) EndpointSecrets(ctx context.Context, q sqldb.Querier) ([]EndpointSecret, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, secret FROM webhook_endpoint ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint secrets: %w", err)
	}
	defer rows.Close()
	var out []EndpointSecret
	for rows.Next() {
		var s EndpointSecret
		if err := rows.Scan(&s.ID, &s.Secret); err != nil {
			return nil, fmt.Errorf("webhook endpoint secrets: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ReplaceEndpointSecret stores a new form of an endpoint's secret if the
// stored one is still old.
func (s *Store) ReplaceEndpointSecret(ctx context.Context, q sqldb.Querier, id, old, secret string) error {
	if _, err := q.ExecContext(ctx, `UPDATE webhook_endpoint SET secret = $3 WHERE id = $1 AND secret = $2`, id, old, secret); err != nil {
		return fmt.Errorf("replace webhook endpoint secret %s: %w", id, err)
	}
	return nil
}
