// Package broker connects to NATS JetStream (an external server or cluster,
// or the in-process one of platform/broker/embedded) and declares the
// platform's stream.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the one stream that holds every subject "fabrika.>".
const StreamName = "FABRIKA"

// Subjects is the stream's subject filter.
const Subjects = "fabrika.>"

// Stream limits, and why they are what they are (docs/messaging.md):
//   - DuplicateWindow must exceed the outbox relay's retry horizon (about
//     15 minutes with 10 attempts and a 5 minute backoff cap), so that a
//     re-publish of a message the broker stored but whose ack was lost is
//     dropped by the broker.
//   - MaxAge bounds how long a consumer may stay away and still catch up; the
//     inbox keeps processed ids (7 days) at least as long, so a message
//     redelivered or re-published within the stream's life is still
//     recognised as a duplicate.
const (
	DuplicateWindow = time.Hour
	MaxAge          = 7 * 24 * time.Hour
)

// Connect connects to url, or in-process to an embedded server when
// inProcess is not nil (embedded.Start's server). It returns at once even
// when no server answers yet: the connection keeps trying, and reconnects
// for ever once it was up; the outbox holds messages meanwhile and the
// consumers start when it is up.
func Connect(url string, inProcess nats.InProcessConnProvider, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1), // the outbox retries; do not buffer blindly
		nats.ConnectHandler(func(c *nats.Conn) { log.Info("nats connected", "url", c.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	}
	if inProcess != nil {
		opts = append(opts, nats.InProcessServer(inProcess))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	if !nc.IsConnected() {
		log.Warn("nats not reachable yet; serving without it and connecting when it answers", "url", url)
	}
	return nc, nil
}

// want is the stream as Fabrika declares it.
func want(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Fabrika platform events",
		Subjects:    []string{Subjects},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      MaxAge,
		Duplicates:  DuplicateWindow,
		Replicas:    max(replicas, 1),
		Discard:     jetstream.DiscardOld,
	}
}

// EnsureStream is EnsureStreamLogged without a logger (drift not reported).
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	return EnsureStreamLogged(ctx, js, replicas, nil)
}

// EnsureStreamLogged creates the platform's stream when it is missing. On an
// existing stream it updates only what Fabrika owns, and never lowers
// replicas or limits: the subject filter is added when missing, replicas,
// the duplicate window and the maximum age are raised to Fabrika's values
// when below them and kept when above (an operator's R3 or longer retention
// survives every restart); everything else is the operator's. Each
// difference is logged (as drift) when log is not nil. It is safe to call
// from every service at every start.
func EnsureStreamLogged(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (jetstream.Stream, error) {
	w := want(replicas)
	for range 3 {
		st, err := js.Stream(ctx, StreamName)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st, err = js.CreateStream(ctx, w)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue // another service created it meanwhile: reconcile with it
			}
			if err != nil {
				return nil, fmt.Errorf("create stream %s: %w", StreamName, err)
			}
			return st, nil
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", StreamName, err)
		}
		cur := st.CachedInfo().Config
		next, drift, changed := reconcile(cur, w)
		if log != nil {
			for _, d := range drift {
				log.WarnContext(ctx, "stream configuration drift", "stream", StreamName, "drift", d)
			}
		}
		if !changed {
			return st, nil
		}
		if st, err = js.UpdateStream(ctx, next); err != nil {
			return nil, fmt.Errorf("update stream %s: %w", StreamName, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("stream %s: created and deleted concurrently", StreamName)
}

// reconcile returns the existing configuration cur with Fabrika's fields
// raised to w where below it, what differs from w (drift), and whether
// anything changed.
func reconcile(cur, w jetstream.StreamConfig) (jetstream.StreamConfig, []string, bool) {
	next := cur
	next.Subjects = slices.Clone(cur.Subjects)
	var drift []string
	changed := false
	if !slices.Contains(cur.Subjects, Subjects) {
		next.Subjects = append(next.Subjects, Subjects)
		drift = append(drift, fmt.Sprintf("subjects %v lack %s: added", cur.Subjects, Subjects))
		changed = true
	}
	if cur.Replicas < w.Replicas {
		next.Replicas = w.Replicas
		drift = append(drift, fmt.Sprintf("replicas %d below the configured %d: raised", cur.Replicas, w.Replicas))
		changed = true
	} else if cur.Replicas > w.Replicas {
		drift = append(drift, fmt.Sprintf("replicas %d above the configured %d: kept", cur.Replicas, w.Replicas))
	}
	raise := func(name string, cur time.Duration, field *time.Duration, w time.Duration) {
		switch {
		case cur == 0 && name == "max_age": // unlimited
			drift = append(drift, fmt.Sprintf("%s unlimited, above %s: kept", name, w))
		case cur < w:
			*field = w
			drift = append(drift, fmt.Sprintf("%s %s below %s: raised", name, cur, w))
			changed = true
		case cur > w:
			drift = append(drift, fmt.Sprintf("%s %s above %s: kept", name, cur, w))
		}
	}
	raise("max_age", cur.MaxAge, &next.MaxAge, w.MaxAge)
	raise("duplicate_window", cur.Duplicates, &next.Duplicates, w.Duplicates)
	if cur.Retention != w.Retention || cur.Storage != w.Storage || cur.Discard != w.Discard {
		drift = append(drift, fmt.Sprintf("retention %s, storage %s, discard %s differ from Fabrika's %s, %s, %s: kept",
			cur.Retention, cur.Storage, cur.Discard, w.Retention, w.Storage, w.Discard))
	}
	return next, drift, changed
}
