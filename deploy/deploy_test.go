// Package deploy holds what runs Fabrika in production: Prometheus scrape
// configuration and alert rules. Its test keeps the rules honest: every
// metric an alert uses is one the code registers, and every alert has a
// runbook section.
package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestAlertsUseRealMetricsAndHaveRunbooks(t *testing.T) {
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	registered := registeredMetrics(t)
	metric := regexp.MustCompile(`fabrika_[a-z_]+`)
	suffix := regexp.MustCompile(`_(bucket|sum|count)$`)
	seen := map[string]bool{}
	for _, m := range metric.FindAllString(string(rules), -1) {
		name := suffix.ReplaceAllString(m, "")
		if seen[name] {
			continue
		}
		seen[name] = true
		if !registered[name] {
			t.Errorf("alerts.yml uses %s, which no service registers", name)
		}
	}
	if len(seen) < 5 {
		t.Fatalf("found only %d metrics in the rules", len(seen))
	}
	alert := regexp.MustCompile(`alert: (\w+)`)
	for _, m := range alert.FindAllStringSubmatch(string(rules), -1) {
		if !strings.Contains(string(runbook), "## "+m[1]) {
			t.Errorf("alert %s has no '## %s' section in docs/runbook.md", m[1], m[1])
		}
		if !strings.Contains(string(rules), "docs/runbook.md#"+strings.ToLower(m[1])) {
			t.Errorf("alert %s does not link its runbook", m[1])
		}
	}
}

// Every alert has a promtool unit test (.ci/run runs them with
// `promtool test rules`): a rule nobody tested is not trusted to fire.
func TestEveryAlertHasAPromtoolTest(t *testing.T) {
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := filepath.Glob("prometheus/*_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(b)
	}
	alerts := regexp.MustCompile(`alert: (\w+)`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) == 0 {
		t.Fatal("no alerts found in prometheus/alerts.yml")
	}
	for _, m := range alerts {
		if !regexp.MustCompile(`alertname: ` + m[1] + `\s`).MatchString(text.String()) {
			t.Errorf("alert %s has no test in prometheus/*_test.yml", m[1])
		}
	}
}
