package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// orderCommand runs `fabrika order trace <number or id>`.
func orderCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "trace" {
		return errors.New("usage: fabrika order trace <order number or id> [--json] [--data-dir DIR] [--shop-admin URL ...]")
	}
	t, err := parseTraceFlags(args[1:])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	res, err := t.trace(ctx)
	if err != nil {
		return err
	}
	if t.json {
		return printJSON(stdout, res)
	}
	res.print(stdout, time.Now())
	return nil
}

// tracer asks every order service's admin listener what it knows of an
// order.
type tracer struct {
	ref     string
	token   string
	admins  map[string]string // service -> admin base URL
	json    bool
	timeout time.Duration
	client  *http.Client
}

// parseTraceFlags reads the reference and the flags in any order. Each
// service's admin listener is found as `fabrika dev` places it (FABRIKA_HOST,
// FABRIKA_BASE_PORT, FABRIKA_ADMIN_BASE_PORT), or given apart for services
// that run standalone: --<service>-admin or FABRIKA_<SERVICE>_ADMIN_URL.
func parseTraceFlags(args []string) (*tracer, error) {
	m := NewMain()
	if err := m.ParseFlags(nil); err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet("fabrika order trace", flag.ContinueOnError)
	dataDir := fs.String("data-dir", env("FABRIKA_DATA_DIR", "data"), "data directory of `fabrika dev` (its admin-token; FABRIKA_ADMIN_TOKEN takes precedence)")
	fs.StringVar(&m.Config.Host, "host", m.Config.Host, "the interface `fabrika dev` listens on (FABRIKA_HOST)")
	fs.IntVar(&m.Config.AdminBasePort, "admin-base-port", m.Config.AdminBasePort, "`fabrika dev`'s admin base port (FABRIKA_ADMIN_BASE_PORT; default its base port + 100)")
	t := &tracer{admins: map[string]string{}}
	fs.BoolVar(&t.json, "json", false, "print the services' reports and the verdict as JSON")
	fs.DurationVar(&t.timeout, "timeout", 15*time.Second, "how long to wait for the services")
	urls := map[string]*string{}
	for _, s := range ordertrace.Services() {
		urls[s] = fs.String(s+"-admin", env(adminURLEnv(s), ""), s+"'s admin listener, e.g. http://10.0.0.5:9081, for a standalone service (env "+adminURLEnv(s)+`; default its "fabrika dev" port; "off" skips it)`)
	}
	var refs []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		refs, args = append(refs, fs.Arg(0)), fs.Args()[1:]
	}
	if len(refs) != 1 {
		return nil, errors.New("usage: fabrika order trace <order number or id> (one order)")
	}
	t.ref = strings.TrimSpace(refs[0])
	for s, u := range urls {
		switch *u {
		case "off":
		case "":
			t.admins[s] = fmt.Sprintf("http://%s", net.JoinHostPort(m.Config.Host, strconv.Itoa(m.adminPort(s))))
		default:
			t.admins[s] = strings.TrimRight(*u, "/")
		}
	}
	if len(t.admins) == 0 {
		return nil, errors.New("every service is off: nothing to ask")
	}
	tok, err := readAdminToken(*dataDir)
	if err != nil {
		return nil, err
	}
	t.token = tok
	t.client = &http.Client{Timeout: t.timeout}
	return t, nil
}

// adminURLEnv is the variable with a standalone service's admin listener:
// FABRIKA_MES_CALC_ADMIN_URL.
func adminURLEnv(service string) string {
	return "FABRIKA_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_")) + "_ADMIN_URL"
}

// traceResult is what `fabrika order trace` found.
type traceResult struct {
	Ref     string              `json:"ref"`
	OrderID string              `json:"order_id"`
	Number  string              `json:"number,omitempty"`
	TraceID string              `json:"trace_id"` // the order's (telemetry.AggregateTraceID), as a viewer knows it
	Reports []ordertrace.Report `json:"reports"`
	// Unknown are the services that answered and know nothing of the
	// order; Unreachable those that did not answer, with why.
	Unknown     []string          `json:"unknown"`
	Unreachable map[string]string `json:"unreachable,omitempty"`
	Verdict     string            `json:"verdict"`
}

// trace asks every service by the reference, then, when the reference was a
// number, asks again by the order's id those that do not keep numbers.
func (t *tracer) trace(ctx context.Context) (*traceResult, error) {
	res := &traceResult{Ref: t.ref, Unreachable: map[string]string{}}
	reports := map[string]*ordertrace.Report{}
	t.ask(ctx, t.ref, sortedKeys(t.admins), reports, res.Unreachable)
	ids := map[string]bool{}
	for _, r := range reports {
		ids[r.OrderID] = true
	}
	switch {
	case len(ids) > 1:
		return nil, fmt.Errorf("%q names different orders in different services: %v", t.ref, sortedKeys(ids))
	case len(ids) == 0:
		return nil, t.unknown(res.Unreachable)
	}
	res.OrderID = sortedKeys(ids)[0]
	res.TraceID = telemetry.AggregateTraceID(res.OrderID).String()
	if res.OrderID != t.ref {
		var again []string
		for s := range t.admins {
			if _, ok := reports[s]; !ok && res.Unreachable[s] == "" {
				again = append(again, s)
			}
		}
		t.ask(ctx, res.OrderID, again, reports, res.Unreachable)
	}
	for _, s := range ordertrace.Services() {
		if _, asked := t.admins[s]; !asked || res.Unreachable[s] != "" {
			continue
		}
		r, ok := reports[s]
		if !ok {
			res.Unknown = append(res.Unknown, s)
			continue
		}
		res.Reports = append(res.Reports, *r)
		if r.Rows != nil && r.Rows.Number != "" {
			res.Number = r.Rows.Number
		}
	}
	res.Verdict = ordertrace.Verdict(res.Reports, time.Now())
	if len(res.Unreachable) > 0 {
		res.Verdict += " (not reached: " + strings.Join(sortedKeys(res.Unreachable), ", ") + ")"
	}
	return res, nil
}

func (t *tracer) unknown(unreachable map[string]string) error {
	msg := fmt.Sprintf("no service knows an order %q (asked %s)", t.ref, strings.Join(sortedKeys(t.admins), ", "))
	if len(unreachable) > 0 {
		var parts []string
		for _, s := range sortedKeys(unreachable) {
			parts = append(parts, s+": "+unreachable[s])
		}
		msg += "; not reachable: " + strings.Join(parts, "; ")
	}
	return errors.New(msg)
}

// ask requests the trace of ref from services at once; a service that knows
// the order lands in reports, one that cannot be asked in unreachable.
func (t *tracer) ask(ctx context.Context, ref string, services []string, reports map[string]*ordertrace.Report, unreachable map[string]string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() {
			r, err := t.askOne(ctx, s, ref)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				unreachable[s] = err.Error()
			case r != nil:
				reports[s] = r
			}
		})
	}
	wg.Wait()
}

// askOne returns the service's report, nil when it knows nothing of ref.
func (t *tracer) askOne(ctx context.Context, service, ref string) (*ordertrace.Report, error) {
	u := t.admins[service] + "/admin/orders/" + url.PathEscape(ref) + "/trace"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s (is it running? --%s-admin sets its admin URL)", err, service)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var r ordertrace.Report
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
		return &r, nil
	case http.StatusNotFound:
		var p struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(body, &p) == nil && p.Detail != "" {
			return nil, nil // the service's "knows no order"
		}
		return nil, fmt.Errorf("%s: 404 (a service without the order trace route?)", u)
	default:
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
}

// print writes a section per service and the verdict.
func (r *traceResult) print(w io.Writer, now time.Time) {
	at := func(t time.Time) string { return ordertrace.Clock(t, now) }
	title := "order " + r.OrderID
	if r.Number != "" {
		title = fmt.Sprintf("order %s (%s)", r.Number, r.OrderID)
	}
	fmt.Fprintln(w, title)
	fmt.Fprintf(w, "trace %s (with fabrika dev --traces: %s/trace/%s)\n", r.TraceID, traceViewerUI, r.TraceID)
	for _, rep := range r.Reports {
		fmt.Fprintf(w, "\n%s\n", rep.Service)
		if s := rep.Rows; s != nil {
			fmt.Fprintf(w, "  status %s since %s\n", s.Status, at(s.Since))
			for _, m := range s.Times {
				fmt.Fprintf(w, "    %-12s %s\n", at(m.At), m.What)
			}
			for _, f := range s.Facts {
				fmt.Fprintf(w, "  %s: %s\n", f.Name, f.Value)
			}
		} else {
			fmt.Fprintln(w, "  no row of the order (only messages)")
		}
		if len(rep.Outbox) == 0 {
			fmt.Fprintln(w, "  outbox: nothing waiting")
		}
		for _, e := range rep.Outbox {
			fmt.Fprintf(w, "  outbox %-7s %s  %s  created %s  attempts %d  trace %s\n", e.Status, e.Subject, e.ID, at(e.CreatedAt), e.Attempts, orDash(e.TraceID))
			if e.LastError != "" {
				fmt.Fprintf(w, "         last error: %s\n", e.LastError)
			}
		}
		for _, i := range rep.Inbox {
			fmt.Fprintf(w, "  inbox  %-12s %s  %s  by %s  delivery %d  trace %s\n", at(i.ProcessedAt), i.Subject, i.MsgID, i.Consumer, i.Deliveries, orDash(i.TraceID))
		}
		for _, d := range rep.DeadLetters {
			fmt.Fprintf(w, "  DEAD LETTER (%s) %s  %s  message %s  by %s  deliveries %d  trace %s\n", d.Status, at(d.CreatedAt), d.Subject, d.MsgID, d.Consumer, d.Deliveries, orDash(d.TraceID))
			fmt.Fprintf(w, "         id %s: %s\n", d.ID, d.Reason)
		}
	}
	for _, s := range r.Unknown {
		fmt.Fprintf(w, "\n%s\n  knows nothing of the order\n", s)
	}
	for _, s := range sortedKeys(r.Unreachable) {
		fmt.Fprintf(w, "\n%s\n  NOT REACHED: %s\n", s, r.Unreachable[s])
	}
	fmt.Fprintf(w, "\nverdict: %s\n", r.Verdict)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
