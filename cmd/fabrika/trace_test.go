package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// otlpSpan is what the test reads of an exported span.
type otlpSpan struct {
	service, name   string
	kind            tracepb.Span_SpanKind
	trace, id, pid  string // hex
	attrs           map[string]string
	linkedTraceSpan [][2]string // trace and span id of each link
}

// otlpReceiver is an OTLP/HTTP trace receiver (protobuf, as the services'
// exporter sends): it keeps every span it is sent.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []otlpSpan
	bad   []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		r.fail(fmt.Sprintf("%s %s", req.Method, req.URL.Path))
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.fail(err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var ex coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &ex)
	}
	if err != nil {
		r.fail(err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&ex)
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *otlpReceiver) fail(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad = append(r.bad, why)
}

func (r *otlpReceiver) add(ex *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range ex.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := otlpSpan{service: service, name: s.GetName(), kind: s.GetKind(), trace: hex.EncodeToString(s.GetTraceId()),
					id: hex.EncodeToString(s.GetSpanId()), pid: hex.EncodeToString(s.GetParentSpanId()), attrs: map[string]string{}}
				for _, a := range s.GetAttributes() {
					sp.attrs[a.GetKey()] = a.GetValue().GetStringValue()
				}
				for _, l := range s.GetLinks() {
					sp.linkedTraceSpan = append(sp.linkedTraceSpan, [2]string{hex.EncodeToString(l.GetTraceId()), hex.EncodeToString(l.GetSpanId())})
				}
				r.spans = append(r.spans, sp)
			}
		}
	}
}

func (r *otlpReceiver) all() ([]otlpSpan, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans), slices.Clone(r.bad)
}

// TestOneOrderOneTrace is issue 20's single trace: the platform exports its
// spans over OTLP to a receiver in the test; a shop order is placed, priced,
// confirmed by a manager and produced and shipped by an operator, each
// request its own trace, and after the platform stopped (and flushed) every
// span of the order's messages, in every service, is in the one trace the
// order's id names: each message's producer span either follows the message
// it handles or is a root linked to the request that acted on the order
// (whose trace runs through the gateway), and each consumer span is the
// child of its message's producer span in another service, carried across
// the broker in the message's headers.
func TestOneOrderOneTrace(t *testing.T) {
	t.Parallel()
	stations := demoStations()
	otlp := newOTLPReceiver(t)
	p := startMain(t, func(ctx context.Context, m *Main) {
		m.Config.OTLPEndpoint = strings.TrimPrefix(otlp.srv.URL, "http://")
		seedStaff(ctx, t, m, staffAccount{"mia.manager", "manager", nil}, staffAccount{"otto.operator", "operator", stations})
	})
	const wait = 90 * time.Second

	shopper, placed := placeShopOrder(t, p.public, "Ada")
	id := placed.ID

	manager := newClient(t, p.public)
	manager.staffSignIn("mia.manager", staffPassword)
	o := pricedInCRM(t, manager, id, wait)
	if res := manager.do("POST", "/crm/api/v1/orders/"+id+"/confirm", map[string]any{"version": o.Order.Version}, nil); res.code != 200 {
		t.Fatalf("confirm %s: %s", id, res)
	}
	operator := newClient(t, p.public)
	operator.staffSignIn("otto.operator", staffPassword)
	produceAndShip(t, operator, id, "JD00000001")
	// The last consumers have had the shipment: the shop and the CRM show it.
	eventually(t, wait, "the order shipped at the shop and in the CRM", func() (bool, string) {
		a, b := shopper.get("/shop/api/v1/orders/"+id), manager.get("/crm/api/v1/orders/"+id)
		return strings.Contains(string(a.body), `"status":"shipped"`) && strings.Contains(string(b.body), `"status":"shipped"`), a.String() + b.String()
	})
	p.stop() // flushes every service's spans
	spans, bad := otlp.all()
	if len(bad) > 0 {
		t.Fatalf("the receiver refused exports: %v", bad)
	}

	orderTrace := telemetry.AggregateTraceID(id).String()
	byID := map[string]otlpSpan{}
	for _, s := range spans {
		byID[s.trace+"/"+s.id] = s
	}
	// The order's messages: a producer span each, keyed by the order.
	producers := map[string]otlpSpan{} // by message id
	subjects := map[string]bool{}
	for _, s := range spans {
		if s.kind == tracepb.Span_SPAN_KIND_PRODUCER && s.attrs["fabrika.key"] == id {
			producers[s.attrs["messaging.message.id"]] = s
			subjects[strings.TrimPrefix(s.attrs["messaging.destination.name"], "fabrika.")] = true
		}
	}
	for _, ev := range statusEvents {
		if !subjects[ev] {
			t.Errorf("no producer span of %s for the order (subjects seen: %v)", ev, keys(subjects))
		}
	}
	for msgID, s := range producers {
		if s.trace != orderTrace {
			t.Errorf("%s's producer span of %s (message %s) is in trace %s, not the order's %s", s.service, s.name, msgID, s.trace, orderTrace)
			continue
		}
		if s.pid != "" {
			parent, ok := byID[s.trace+"/"+s.pid]
			if !ok || parent.service != s.service {
				t.Errorf("%s's producer span %s has parent %s, not a span of its own service in the order's trace (%+v)", s.service, s.name, s.pid, parent)
			}
			continue
		}
		// A root: a request that acted on the order, linked; the request's
		// trace came through the gateway.
		if len(s.linkedTraceSpan) != 1 {
			t.Errorf("%s's root producer span %s has links %v, want the request's", s.service, s.name, s.linkedTraceSpan)
			continue
		}
		req, ok := byID[s.linkedTraceSpan[0][0]+"/"+s.linkedTraceSpan[0][1]]
		if !ok || req.kind != tracepb.Span_SPAN_KIND_SERVER || req.service != s.service {
			t.Errorf("%s's producer span %s links to %+v, want its service's request span", s.service, s.name, req)
			continue
		}
		gw, ok := byID[req.trace+"/"+req.pid]
		if !ok || gw.service != "gateway" {
			t.Errorf("the request %s that sent %s did not come through the gateway's span: parent %+v", req.name, s.name, gw)
		}
	}
	// Every consumer span of the order's messages is the child of the
	// message's producer span, in another service, in the order's trace.
	consumed := map[string]int{}
	for _, s := range spans {
		if s.kind != tracepb.Span_SPAN_KIND_CONSUMER {
			continue
		}
		prod, ok := producers[s.attrs["messaging.message.id"]]
		if !ok {
			continue
		}
		consumed[s.attrs["messaging.message.id"]]++
		if s.trace != orderTrace || s.pid != prod.id || s.service == prod.service {
			t.Errorf("%s's consumer span %s: trace %s parent %s; want trace %s, parent %s's producer span %s", s.service, s.name,
				s.trace, s.pid, orderTrace, prod.service, prod.id)
		}
	}
	for msgID, s := range producers {
		if consumed[msgID] == 0 && s.attrs["messaging.destination.name"] != "fabrika."+contracts.OperationStarted &&
			s.attrs["messaging.destination.name"] != "fabrika."+contracts.OperationFinished {
			t.Errorf("%s's message %s (%s) has no consumer span", s.service, msgID, s.name)
		}
	}
	// The order's trace holds every service of the flow, and no span in it
	// points to a parent that is not there.
	services := map[string]int{}
	for _, s := range spans {
		if s.trace != orderTrace {
			continue
		}
		services[s.service]++
		if _, ok := byID[s.trace+"/"+s.pid]; s.pid != "" && !ok {
			t.Errorf("%s's span %s in the order's trace has a parent %s that was never exported", s.service, s.name, s.pid)
		}
	}
	for _, want := range []string{"shop", "crm", "mes-calc", "mes-operator"} {
		if services[want] == 0 {
			t.Errorf("the order's trace %s has no span of %s (spans per service: %v)", orderTrace, want, services)
		}
	}
	t.Logf("the order's trace %s: %d spans per service %v, %d messages", orderTrace, sum(services), services, len(producers))
}

func keys(m map[string]bool) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
