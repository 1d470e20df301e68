package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// TestOrderTrace: `fabrika order trace` finds a shop order by its number in
// every service that has heard of it, with the messages each took in, and
// names its place; a poison message of the order shows as the dead letter
// it became; an unknown order is a clear error and a non-zero exit.
func TestOrderTrace(t *testing.T) {
	t.Parallel()
	var natsURL string
	p := startMain(t, func(ctx context.Context, m *Main) {
		seedStaff(ctx, t, m, staffAccount{"mia.manager", "manager", nil})
		natsURL = m.Config.NATSURL
		if natsURL == "" { // the embedded broker: let this test reach it too
			m.Config.NATSListen = "127.0.0.1:" + strconv.Itoa(freeBasePort(t, 1))
			natsURL = "nats://" + m.Config.NATSListen
		}
	})
	const wait = 90 * time.Second
	ctx := context.Background()
	// standalone names every service's admin listener, as for services
	// that run apart.
	standalone := func(ref string, extra ...string) []string {
		args := []string{"order", "trace", ref, "--data-dir", p.m.Config.DataDir}
		for _, s := range ordertrace.Services() {
			args = append(args, "--"+s+"-admin", "http://"+p.m.AdminAddr(s))
		}
		return append(args, extra...)
	}
	trace := func(ref string) (traceResult, error) {
		var out bytes.Buffer
		err := run(ctx, standalone(ref, "--json"), &out)
		var res traceResult
		if err == nil {
			err = json.Unmarshal(out.Bytes(), &res)
		}
		return res, err
	}
	report := func(res traceResult, service string) *ordertrace.Report {
		for i := range res.Reports {
			if res.Reports[i].Service == service {
				return &res.Reports[i]
			}
		}
		return nil
	}
	processed := func(r *ordertrace.Report, subject string) *inboxRecord {
		if r == nil {
			return nil
		}
		for _, i := range r.Inbox {
			if i.Subject == subject {
				return &inboxRecord{msgID: i.MsgID, traceID: i.TraceID, deliveries: i.Deliveries}
			}
		}
		return nil
	}

	_, placed := placeShopOrder(t, p.public, "Ada")

	// Priced: the shop, the CRM and mes-calc have rows of it; mes-api
	// knows nothing of it (a shop order: it acks the shop's orders' events
	// without recording them), nor does mes-operator yet. The verdict names mes-calc's pricing and the wait for a
	// manager, against the CRM's threshold for priced orders (24 h).
	priced := contracts.Subject(contracts.OrderPriced)
	placedSubject := contracts.Subject(contracts.OrderPlaced)
	var tr traceResult
	eventually(t, wait, "the trace of a priced order in four services", func() (bool, string) {
		var err error
		if tr, err = trace(placed.Number); err != nil {
			return false, err.Error()
		}
		ok := tr.OrderID == placed.ID && tr.Number == placed.Number &&
			processed(report(tr, "crm"), placedSubject) != nil && processed(report(tr, "mes-calc"), placedSubject) != nil &&
			processed(report(tr, "crm"), priced) != nil && processed(report(tr, "shop"), priced) != nil
		for _, s := range []string{"shop", "crm", "mes-calc"} {
			// Each service's section is read at its own moment: wait
			// until every row says priced.
			if r := report(tr, s); r == nil || r.Rows == nil || r.Rows.Status != contracts.StatusPriced {
				ok = false
			}
		}
		return ok, fmt.Sprintf("%+v", tr)
	})
	for _, s := range []string{"shop", "crm", "mes-calc"} {
		if r := report(tr, s); r == nil || r.Rows == nil || r.Rows.OrderID != placed.ID || r.Rows.Status != contracts.StatusPriced {
			t.Errorf("%s's section: %+v, want its row of %s, priced", s, r, placed.ID)
		}
	}
	if unknown := slices.Sorted(slices.Values(tr.Unknown)); !slices.Equal(unknown, []string{"mes-api", "mes-operator"}) {
		t.Errorf("services that know nothing: %v, want mes-api (a shop order) and mes-operator (not confirmed yet)", tr.Unknown)
	}
	// One message, one trace: order.placed carried the shop request's trace
	// to the CRM and to mes-calc.
	crmPlaced, calcPlaced := processed(report(tr, "crm"), placedSubject), processed(report(tr, "mes-calc"), placedSubject)
	if crmPlaced.msgID != calcPlaced.msgID || crmPlaced.traceID == "" || crmPlaced.traceID != calcPlaced.traceID || crmPlaced.deliveries != 1 {
		t.Errorf("order.placed in the CRM's inbox %+v and mes-calc's %+v: want one message id, one trace id, first delivery", crmPlaced, calcPlaced)
	}
	for _, want := range []string{"priced by mes-calc ", "; waiting for a manager's confirmation for ", ", threshold 24 h"} {
		if !strings.Contains(tr.Verdict, want) {
			t.Errorf("verdict %q lacks %q", tr.Verdict, want)
		}
	}

	// Confirmed: now mes-operator plans it, and the text output has a
	// section per service. This run finds the services as `fabrika dev`
	// places them (host and admin base port), not by their URLs.
	manager := newClient(t, p.public)
	manager.staffSignIn("mia.manager", staffPassword)
	var o crmOrder
	if res := manager.get("/crm/api/v1/orders/" + placed.ID); res.code == 200 {
		res.decode(t, &o)
	}
	if res := manager.do("POST", "/crm/api/v1/orders/"+placed.ID+"/confirm", map[string]any{"version": o.Order.Version}, nil); res.code != 200 {
		t.Fatalf("confirm: %s", res)
	}
	confirmed := contracts.Subject(contracts.OrderConfirmed)
	eventually(t, wait, "the trace of a confirmed order in every service", func() (bool, string) {
		var err error
		if tr, err = trace(placed.ID); err != nil {
			return false, err.Error()
		}
		op := report(tr, "mes-operator")
		return len(tr.Reports) == 4 && op != nil && op.Rows != nil && processed(report(tr, "shop"), confirmed) != nil &&
			slices.Equal(tr.Unknown, []string{"mes-api"}), fmt.Sprintf("%+v", tr)
	})
	if r := report(tr, "mes-operator"); r.Rows.Status != contracts.StatusConfirmed || r.Rows.Number != placed.Number {
		t.Errorf("mes-operator's row: %+v, want confirmed with the order's number", r.Rows)
	}
	var text bytes.Buffer
	args := []string{"order", "trace", placed.Number, "--data-dir", p.m.Config.DataDir,
		"--host", "127.0.0.1", "--admin-base-port", strconv.Itoa(p.m.Config.AdminBasePort)}
	if err := run(ctx, args, &text); err != nil {
		t.Fatalf("fabrika %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("fabrika order trace %s:\n%s", placed.Number, text.String())
	orderTrace := telemetry.AggregateTraceID(placed.ID).String()
	if tr.TraceID != orderTrace {
		t.Errorf("trace id %q, want the order's %s", tr.TraceID, orderTrace)
	}
	for _, want := range append(sections(), "verdict: confirmed in the CRM ", "; waiting for the shop floor to start it (mes-operator) for ",
		"inbox", confirmed, "status confirmed since", "\ntrace "+orderTrace+" ", traceViewerUI+"/trace/"+orderTrace) {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the trace's text lacks %q:\n%s", want, text.String())
		}
	}

	// A poison order.confirmed of the order (it breaks the contract): every
	// consumer of order.confirmed dead-letters it, and the trace says so.
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	poisonID := uuid.NewString()
	msg := nats.NewMsg(confirmed)
	msg.Header.Set("Nats-Msg-Id", poisonID)
	msg.Header.Set("Fabrika-Key", placed.ID)
	msg.Data = []byte(`{"order_id":"` + placed.ID + `"}`)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "the poison message dead-lettered in the trace", func() (bool, string) {
		var err error
		if tr, err = trace(placed.Number); err != nil {
			return false, err.Error()
		}
		r := report(tr, "mes-operator")
		return r != nil && len(r.DeadLetters) == 1 && r.DeadLetters[0].MsgID == poisonID, fmt.Sprintf("%+v", tr)
	})
	if d := report(tr, "mes-operator").DeadLetters[0]; d.Status != "open" || d.Subject != confirmed || !strings.Contains(d.Reason, "validate") {
		t.Errorf("mes-operator's dead letter: %+v", d)
	}
	if !strings.Contains(tr.Verdict, "mes-operator dead-lettered "+confirmed) || !strings.Contains(tr.Verdict, "fabrika deadletter replay --service mes-operator --id ") {
		t.Errorf("verdict %q does not name the dead letter and what to do", tr.Verdict)
	}

	// The route behind the command needs the admin token, like every admin
	// route.
	for _, s := range ordertrace.Services() {
		adm := newClient(t, "http://"+p.m.AdminAddr(s))
		for name, hdr := range map[string]map[string]string{"nothing": nil, "a wrong token": {"Authorization": "Bearer " + p.m.AdminToken() + "x"}} {
			if res := adm.do("GET", "/admin/orders/"+placed.ID+"/trace", nil, hdr); res.code != http.StatusUnauthorized {
				t.Errorf("%s's order trace with %s: %s, want 401", s, name, res)
			}
		}
	}

	// An order nobody knows: a clear message, and the command exits 1.
	unknown := "S-1999-999999"
	_, err = trace(unknown)
	if err == nil || !strings.Contains(err.Error(), `no service knows an order "S-1999-999999"`) {
		t.Errorf("trace of an unknown order: %v", err)
	}
	cmd := exec.Command(fabrikaBinary(t), standalone(unknown)...)
	cmd.Env = append(cmd.Environ(), "FABRIKA_ADMIN_TOKEN="+p.m.AdminToken())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "no service knows an order") {
		t.Errorf("fabrika order trace %s: %v, stderr %q; want exit 1 naming the order", unknown, err, stderr.String())
	}
}

type inboxRecord struct {
	msgID, traceID string
	deliveries     int
}

// sections are the section titles of the trace's text, one per service.
func sections() []string {
	var out []string
	for _, s := range ordertrace.Services() {
		out = append(out, "\n"+s+"\n")
	}
	return out
}
