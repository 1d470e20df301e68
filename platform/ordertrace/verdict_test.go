package ordertrace_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/outbox"
)

func TestVerdict(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 13, 2, 11, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	crm := func(status string, since time.Time, facts ...ordertrace.Fact) ordertrace.Report {
		return ordertrace.Report{Service: "crm", Rows: &ordertrace.Summary{Status: status, Since: since, Channel: "shop", Facts: facts,
			Thresholds: map[string]int64{"placed": 900, "priced": 7200, "confirmed": 172800}}}
	}
	row := func(service, status string, since time.Time) ordertrace.Report {
		return ordertrace.Report{Service: service, Rows: &ordertrace.Summary{Status: status, Since: since}}
	}
	tests := []struct {
		name    string
		reports []ordertrace.Report
		want    []string
	}{
		{"priced, past the CRM's threshold", []ordertrace.Report{row("shop", "priced", ago(3*time.Hour)), crm("priced", ago(3*time.Hour)), row("mes-calc", "priced", ago(3*time.Hour))},
			[]string{"priced by mes-calc 10:02:11; waiting for a manager's confirmation for 3 h, threshold 2 h: stuck"}},
		{"confirmed within its threshold, by whom", []ordertrace.Report{crm("confirmed", ago(5*time.Minute), ordertrace.Fact{Name: "by", Value: "mia"}), row("mes-operator", "confirmed", ago(4*time.Minute))},
			[]string{"confirmed in the CRM 12:57:11 (by mia); waiting for the shop floor to start it (mes-operator) for 5 min, threshold 2 d"}},
		{"the most advanced status wins", []ordertrace.Report{row("shop", "confirmed", ago(time.Hour)), crm("confirmed", ago(time.Hour)), row("mes-operator", "in_production", ago(20*time.Minute))},
			[]string{"in production at mes-operator since 12:42:11; waiting for the operators to finish its operations for 20 min"}},
		{"on a tie the CRM's: on hold", []ordertrace.Report{row("mes-operator", "confirmed", ago(time.Hour)), crm("on_hold", ago(10*time.Minute))},
			[]string{"put on hold in the CRM 12:52:11; waiting for a manager to resume it for 10 min"}},
		{"shipped waits for nothing", []ordertrace.Report{crm("shipped", ago(48*time.Hour))},
			[]string{"shipped by mes-operator 2026-12-05 13:02:11; waiting for nothing"}},
		{"placed, its message still in the shop's outbox", []ordertrace.Report{
			{Service: "shop", Rows: &ordertrace.Summary{Status: "placed", Channel: "shop", Since: ago(20 * time.Minute)},
				Outbox: []outbox.Entry{{ID: "m1", Subject: "fabrika.order.placed", Status: "pending", Attempts: 2, CreatedAt: ago(20 * time.Minute)}}}},
			[]string{"placed at shop 12:42:11; waiting for shop to publish fabrika.order.placed (pending since 12:42:11, 2 attempts) for 20 min"}},
		{"placed, mes-calc has not priced it", []ordertrace.Report{row("shop", "placed", ago(30*time.Minute)), crm("placed", ago(30*time.Minute))},
			[]string{"placed at shop 12:32:11; waiting for mes-calc to price it (mes-calc has no calculation of it yet) for 30 min, threshold 15 min: stuck"}},
		{"a dead letter comes first", []ordertrace.Report{crm("confirmed", ago(time.Hour)),
			{Service: "mes-operator", DeadLetters: []inbox.DeadLetter{{ID: "dl-1", Subject: "fabrika.order.confirmed", Status: "open", Reason: "validate: missing lines", CreatedAt: ago(50 * time.Minute)}}}},
			[]string{"confirmed in the CRM 12:02:11; mes-operator dead-lettered fabrika.order.confirmed 12:12:11 (validate: missing lines); waiting for a person: fabrika deadletter replay --service mes-operator --id dl-1"}},
		{"a replayed dead letter is no problem", []ordertrace.Report{crm("priced", ago(time.Minute)),
			{Service: "shop", DeadLetters: []inbox.DeadLetter{{ID: "dl-2", Status: "replayed"}}}},
			[]string{"priced by mes-calc 13:01:11; waiting for a manager's confirmation for 1 min, threshold 2 h"}},
		{"an outbox row in error", []ordertrace.Report{crm("priced", ago(time.Hour)),
			{Service: "crm", Outbox: []outbox.Entry{{ID: "m9", Subject: "fabrika.order.confirmed", Status: "error", Attempts: 10, LastError: "maximum payload exceeded"}}}},
			[]string{"crm gave up publishing fabrika.order.confirmed after 10 attempts (maximum payload exceeded); waiting for a person: fabrika outbox retry --service crm --id m9"}},
		{"nothing but a dead letter", []ordertrace.Report{{Service: "mes-calc", DeadLetters: []inbox.DeadLetter{{ID: "dl-3", Subject: "fabrika.order.placed", Status: "open", Reason: "bad", CreatedAt: ago(time.Minute)}}}},
			[]string{"mes-calc dead-lettered fabrika.order.placed 13:01:11 (bad); waiting for a person"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ordertrace.Verdict(tc.reports, now)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("verdict\n  %s\nlacks\n  %s", got, w)
				}
			}
		})
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		30 * time.Second: "under 1 min", 45 * time.Minute: "45 min", 2*time.Hour + 5*time.Minute: "2 h 5 min",
		36 * time.Hour: "36 h", 76 * time.Hour: "3 d 4 h",
	} {
		if got := ordertrace.Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}
