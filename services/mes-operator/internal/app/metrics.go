package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

// metrics counts operator actions by outcome, so that a dashboard shows
// the shop floor's pace and how often tablets retry or are refused.
type metrics struct {
	actions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{actions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fabrika_mes_operator_actions_total",
		Help: "Operator actions by action and outcome (applied, replayed, refused, failed).",
	}, []string{"action", "outcome"})}
	if reg != nil {
		if err := reg.Register(m.actions); err != nil {
			return nil, fmt.Errorf("register mes-operator metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(action string, res Result, err error) {
	outcome := "applied"
	switch {
	case err != nil:
		outcome = "failed"
		if _, ok := production.AsError(err); ok {
			outcome = "refused"
		}
	case res.Replayed:
		outcome = "replayed"
	}
	m.actions.WithLabelValues(action, outcome).Inc()
}
