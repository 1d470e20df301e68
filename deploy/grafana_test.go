package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Grafana dashboards in grafana/ are code: this file builds them (one
// per service and one for the order flow), -update writes them, and the
// test fails when a file differs, when an expression names a metric no
// service registers, or when promtool cannot parse an expression.
//
//	go test ./deploy -run TestGrafanaDashboards -update

// dashboard is the part of Grafana's dashboard JSON model Fabrika uses.
type dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	Tags          []string   `json:"tags"`
	Editable      bool       `json:"editable"`
	SchemaVersion int        `json:"schemaVersion"`
	Refresh       string     `json:"refresh"`
	Time          timeRange  `json:"time"`
	Templating    templating `json:"templating"`
	Panels        []panel    `json:"panels"`
}

type timeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type templating struct {
	List []variable `json:"list"`
}

type variable struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type"`
	Query string `json:"query"`
}

type panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description,omitempty"`
	GridPos     gridPos     `json:"gridPos"`
	Datasource  datasource  `json:"datasource"`
	FieldConfig fieldConfig `json:"fieldConfig"`
	Targets     []target    `json:"targets"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type fieldConfig struct {
	Defaults struct {
		Unit string `json:"unit,omitempty"`
	} `json:"defaults"`
}

type target struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
}

// graph is one panel: a title, a unit, and its queries as expression and
// legend pairs.
type graph struct {
	title, help, unit string
	queries           [][2]string
}

func build(uid, title string, graphs []graph) dashboard {
	d := dashboard{UID: uid, Title: title, Tags: []string{"fabrika"}, SchemaVersion: 39, Refresh: "30s",
		Time:       timeRange{From: "now-6h", To: "now"},
		Templating: templating{List: []variable{{Name: "datasource", Label: "Prometheus", Type: "datasource", Query: "prometheus"}}}}
	for i, g := range graphs {
		p := panel{ID: i + 1, Type: "timeseries", Title: g.title, Description: g.help,
			GridPos:    gridPos{H: 8, W: 12, X: 12 * (i % 2), Y: 8 * (i / 2)},
			Datasource: datasource{Type: "prometheus", UID: "${datasource}"}}
		p.FieldConfig.Defaults.Unit = g.unit
		for j, q := range g.queries {
			p.Targets = append(p.Targets, target{RefID: string(rune('A' + j)), Expr: q[0], LegendFormat: q[1]})
		}
		d.Panels = append(d.Panels, p)
	}
	return d
}

// serviceDashboard: requests, latency, outbox, inbox and dead letters of one
// service.
func serviceDashboard(service string) dashboard {
	s := `service="` + service + `"`
	graphs := []graph{
		{"Requests by route and code", "Requests per second the service answered.", "reqps", [][2]string{
			{`sum by (route, code) (rate(fabrika_http_requests_total{` + s + `}[5m]))`, "{{route}} {{code}}"}}},
		{"Latency p50 / p99", "Request duration quantiles over all routes.", "s", [][2]string{
			{`histogram_quantile(0.5, sum by (le) (rate(fabrika_http_request_duration_seconds_bucket{` + s + `}[5m])))`, "p50"},
			{`histogram_quantile(0.99, sum by (le) (rate(fabrika_http_request_duration_seconds_bucket{` + s + `}[5m])))`, "p99"}}},
		{"Server errors", "5xx answers per second by route.", "reqps", [][2]string{
			{`sum by (route) (rate(fabrika_http_requests_total{` + s + `, code=~"5.."}[5m]))`, "{{route}}"}}},
		{"Outbox: waiting and published", "Messages waiting to be published, and published per second.", "short", [][2]string{
			{`sum(fabrika_outbox_pending{` + s + `})`, "pending"},
			{`sum(rate(fabrika_outbox_published_total{` + s + `}[5m]))`, "published/s"},
			{`sum(fabrika_outbox_error_messages{` + s + `})`, "error (need a person)"}}},
		{"Outbox: oldest waiting and publish time", "Age of the oldest unpublished message; p99 from publish to broker ack.", "s", [][2]string{
			{`max(fabrika_outbox_oldest_pending_age_seconds{` + s + `})`, "oldest pending"},
			{`histogram_quantile(0.99, sum by (le) (rate(fabrika_outbox_publish_seconds_bucket{` + s + `}[5m])))`, "publish p99"}}},
		{"Inbox: processed and failing per consumer", "Messages handled per second, and handler failures that will be redelivered.", "short", [][2]string{
			{`sum by (consumer) (rate(fabrika_inbox_processed_total{` + s + `}[5m]))`, "{{consumer}} processed/s"},
			{`sum by (consumer) (rate(fabrika_inbox_handler_failures_total{` + s + `}[5m]))`, "{{consumer}} failures/s"}}},
		{"Inbox: handling time p99", "Time to process a message, its transaction included.", "s", [][2]string{
			{`histogram_quantile(0.99, sum by (le, consumer) (rate(fabrika_inbox_handle_seconds_bucket{` + s + `}[5m])))`, "{{consumer}}"}}},
		{"Dead letters", "Open dead letters (from the database, they survive restarts) and new ones per hour.", "short", [][2]string{
			{`sum by (consumer) (fabrika_inbox_dead_letters_open{` + s + `})`, "{{consumer}} open"},
			{`sum by (consumer) (increase(fabrika_inbox_dead_letters_total{` + s + `}[1h]))`, "{{consumer}} new in 1h"}}},
	}
	if service == "gateway" {
		graphs = append(graphs, graph{"Upstreams: p99 and refusals", "Proxied request time per upstream; requests refused before any upstream.", "s", [][2]string{
			{`histogram_quantile(0.99, sum by (le, upstream) (rate(fabrika_gateway_upstream_duration_seconds_bucket[5m])))`, "{{upstream}} p99"},
			{`sum by (reason) (rate(fabrika_gateway_refused_total[5m]))`, "refused {{reason}}/s"}}})
	}
	return build("fabrika-"+service, "Fabrika / "+service, graphs)
}

// orderFlowDashboard: where orders are and whether they move.
func orderFlowDashboard() dashboard {
	return build("fabrika-order-flow", "Fabrika / order flow", []graph{
		{"Stuck orders per status", "Orders in a status longer than its threshold (the CRM's stuck-order rules); start with `fabrika order trace`.", "short", [][2]string{
			{`sum by (status) (fabrika_crm_orders_stuck)`, "{{status}}"}}},
		{"Orders priced per outcome", "Calculations committed by mes-calc per minute: priced, needs review, republished.", "short", [][2]string{
			{`sum by (outcome) (rate(fabrika_mescalc_orders_total[5m])) * 60`, "{{outcome}}/min"}}},
		{"Placed to priced: mes-calc's part", "Not yet a metric end to end: mes-calc's wait for order.placed (its consumer's pending) and its calculation time p99.", "s", [][2]string{
			{`histogram_quantile(0.99, sum by (le) (rate(fabrika_mescalc_calculation_seconds_bucket[5m])))`, "calculation p99"},
			{`histogram_quantile(0.99, sum by (le) (rate(fabrika_inbox_handle_seconds_bucket{service="mes-calc"}[5m])))`, "handling p99"}}},
		{"Consumer lag", "Per durable consumer: messages not yet delivered, and delivered but not acknowledged (JetStream).", "short", [][2]string{
			{`sum by (service, consumer) (fabrika_inbox_consumer_pending)`, "{{consumer}} pending"},
			{`sum by (service, consumer) (fabrika_inbox_consumer_ack_pending)`, "{{consumer}} ack pending"}}},
		{"Order events handled per service", "Messages each service's consumers process per second.", "short", [][2]string{
			{`sum by (service) (rate(fabrika_inbox_processed_total[5m]))`, "{{service}}"}}},
		{"Messages waiting to leave", "Outbox rows not yet published, per service; error rows need a person.", "short", [][2]string{
			{`sum by (service) (fabrika_outbox_pending)`, "{{service}} pending"},
			{`sum by (service) (fabrika_outbox_error_messages)`, "{{service}} error"}}},
		{"Open dead letters", "Per service and consumer, from the database.", "short", [][2]string{
			{`sum by (service, consumer) (fabrika_inbox_dead_letters_open)`, "{{service}} {{consumer}}"}}},
		{"Operator actions", "Actions on the shop floor per minute.", "short", [][2]string{
			{`sum by (action) (rate(fabrika_mes_operator_actions_total[5m])) * 60`, "{{action}}/min"}}},
	})
}

func dashboards() map[string]dashboard {
	ds := map[string]dashboard{"order-flow.json": orderFlowDashboard()}
	for _, s := range []string{"shop", "crm", "mes-calc", "mes-operator", "mes-api", "gateway"} {
		ds[s+".json"] = serviceDashboard(s)
	}
	return ds
}

func TestGrafanaDashboards(t *testing.T) {
	registered := registeredMetrics(t)
	var exprs []string
	for file, d := range dashboards() {
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
		path := filepath.Join("grafana", file)
		if *update {
			if err := os.MkdirAll("grafana", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s is not the dashboard grafana_test.go builds (%v): go test ./deploy -run TestGrafanaDashboards -update", path, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
				for _, m := range metricsOf(tg.Expr) {
					if !registered[m] {
						t.Errorf("%s panel %q uses %s, which no service registers", file, p.Title, m)
					}
				}
			}
		}
	}
	files, err := filepath.Glob("grafana/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := dashboards()[filepath.Base(f)]; !ok {
			t.Errorf("%s is no dashboard grafana_test.go builds: remove it or add it there", f)
		}
	}
	slices.Sort(exprs)
	promtoolParses(t, slices.Compact(exprs))
}

// metricsOf returns the fabrika_ metrics an expression names, without the
// histogram suffixes.
func metricsOf(expr string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`fabrika_[a-z_]+`).FindAllString(expr, -1) {
		out = append(out, regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(m, ""))
	}
	return out
}

// registeredMetrics are the metric names quoted in the services' and the
// platform's Go source (not tests), as the alert rules' test reads them.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	re := regexp.MustCompile(`"(fabrika_[a-z_]+)"`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				names[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// promtoolParses has promtool parse every expression, as recording rules of
// a throw-away rule file (Prometheus's own parser; CI installs promtool).
func promtoolParses(t *testing.T, exprs []string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed: the dashboards' expressions cannot be parsed")
		}
		t.Skip("promtool is not installed; .ci/run installs it")
	}
	var b strings.Builder
	b.WriteString("groups:\n- name: dashboards\n  rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(e) // a JSON string is a YAML string
		fmt.Fprintf(&b, "  - record: fabrika:dashboard_expr_%d\n    expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboards.rules.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules of the dashboards' %d expressions: %v\n%s", len(exprs), err, out)
	}
}
