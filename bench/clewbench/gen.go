package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// template is one pre-encoded ExportTraceServiceRequest plus the byte offsets
// of every trace ID in it, so each send can stamp fresh, unique trace IDs by
// overwriting 8 bytes per span instead of re-encoding the request.
type template struct {
	body    []byte
	idOffs  []int // offsets of the trace IDs' last 8 bytes
	tsOffs  []int // offsets of every span start/end and event timestamp (fixed64)
	spans   int
	traceID [][16]byte
}

var services = []string{"frontend", "gateway", "auth", "orders", "shipping", "payments", "inventory", "worker"}
var routes = []string{"/api/orders", "/api/orders/{id}", "/api/cart", "/api/login", "/api/shipping/quote", "/api/users/{id}", "/healthz"}
var methods = []string{"GET", "POST", "PUT"}

// generate builds n requests of about spansPerRequest spans each: traces of
// 5–20 spans over several services, 8–15 attributes per span, resource
// attributes, and an exception event on failed spans.
func generate(rng *rand.Rand, n, spansPerRequest int, now time.Time) []template {
	out := make([]template, n)
	for i := range out {
		td := ptrace.NewTraces()
		scopes := map[string]ptrace.SpanSlice{}
		var ids [][16]byte
		spans := 0
		for spans < spansPerRequest {
			tid := randomID(rng)
			ids = append(ids, tid)
			spans += addTrace(rng, td, scopes, tid, now.Add(-time.Duration(rng.IntN(60_000))*time.Millisecond))
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			panic(err)
		}
		t := template{body: body, spans: spans, traceID: ids}
		for _, id := range ids {
			for off := 0; ; {
				j := bytes.Index(body[off:], id[:])
				if j < 0 {
					break
				}
				t.idOffs = append(t.idOffs, off+j+8)
				off += j + 16
			}
		}
		if len(t.idOffs) != spans {
			panic(fmt.Sprintf("found %d trace IDs for %d spans", len(t.idOffs), spans))
		}
		t.tsOffs = timestampOffsets(td, body)
		out[i] = t
	}
	return out
}

func randomID(rng *rand.Rand) [16]byte {
	var id [16]byte
	binary.LittleEndian.PutUint64(id[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(id[8:], rng.Uint64())
	return id
}

// stamp writes seq into the low half of every trace ID of body (a copy of
// the template), so every send carries traces nobody sent before, and moves
// every timestamp forward by shift, so time advances as in real traffic
// (search's newest-first early stop depends on it).
func (t *template) stamp(body []byte, seq uint64, shift time.Duration) {
	for _, off := range t.idOffs {
		binary.BigEndian.PutUint64(body[off:off+8], seq^binary.BigEndian.Uint64(t.body[off:off+8]))
	}
	for _, off := range t.tsOffs {
		binary.LittleEndian.PutUint64(body[off:off+8], binary.LittleEndian.Uint64(t.body[off:off+8])+uint64(shift))
	}
}

// timestampOffsets finds each timestamp's fixed64 encoding in body. The
// generator's nanosecond timestamps are random enough to be unique byte runs.
func timestampOffsets(td ptrace.Traces, body []byte) []int {
	var offs []int
	find := func(ts pcommon.Timestamp) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(ts))
		for off := 0; ; {
			j := bytes.Index(body[off:], b[:])
			if j < 0 {
				return
			}
			offs = append(offs, off+j)
			off += j + 8
		}
	}
	seen := map[pcommon.Timestamp]bool{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			sp := spans.At(k)
			for _, ts := range []pcommon.Timestamp{sp.StartTimestamp(), sp.EndTimestamp()} {
				if !seen[ts] {
					seen[ts] = true
					find(ts)
				}
			}
			for e := 0; e < sp.Events().Len(); e++ {
				if ts := sp.Events().At(e).Timestamp(); !seen[ts] {
					seen[ts] = true
					find(ts)
				}
			}
		}
	}
	return offs
}

// addTrace appends one trace's spans, each to the ResourceSpans of its
// service (one per service and request, as an SDK batches per process).
func addTrace(rng *rand.Rand, td ptrace.Traces, scopes map[string]ptrace.SpanSlice, tid [16]byte, start time.Time) int {
	n := 5 + rng.IntN(16)
	failed := rng.IntN(20) == 0
	user := fmt.Sprintf("user-%05d", rng.IntN(20000))
	type node struct {
		id    pcommon.SpanID
		svc   string
		start time.Time
		dur   time.Duration
	}
	nodes := make([]node, 0, n)
	for i := 0; i < n; i++ {
		var sid pcommon.SpanID
		binary.LittleEndian.PutUint64(sid[:], rng.Uint64()|1)
		nd := node{id: sid, svc: services[rng.IntN(len(services))]}
		var parent *node
		if i == 0 {
			nd.svc = "frontend"
			nd.start = start
			nd.dur = time.Duration(5+rng.IntN(1500)) * time.Millisecond
		} else {
			parent = &nodes[rng.IntN(len(nodes))]
			nd.start = parent.start.Add(time.Duration(rng.Int64N(int64(parent.dur)/2 + 1)))
			nd.dur = time.Duration(rng.Int64N(int64(parent.dur)/2 + 1))
		}
		spans, ok := scopes[nd.svc]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			ra := rs.Resource().Attributes()
			ra.PutStr("service.name", nd.svc)
			ra.PutStr("service.version", "1.4.2")
			ra.PutStr("deployment.environment.name", "production")
			ra.PutStr("host.name", fmt.Sprintf("node-%02d", rng.IntN(12)))
			ra.PutStr("telemetry.sdk.language", "go")
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
			ss.Scope().SetVersion("0.72.0")
			spans = ss.Spans()
			scopes[nd.svc] = spans
		}
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID(tid))
		sp.SetSpanID(sid)
		if parent != nil {
			sp.SetParentSpanID(parent.id)
		}
		route := routes[rng.IntN(len(routes))]
		method := methods[rng.IntN(len(methods))]
		sp.SetName(method + " " + route)
		sp.SetKind(ptrace.SpanKind(2 + rng.IntN(2)))
		sp.SetFlags(257)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(nd.start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(nd.start.Add(nd.dur)))
		a := sp.Attributes()
		a.PutStr("http.request.method", method)
		a.PutStr("http.route", route)
		a.PutStr("url.path", route)
		a.PutStr("server.address", nd.svc+".internal")
		a.PutInt("server.port", 8080)
		a.PutStr("network.protocol.version", "1.1")
		a.PutStr("enduser.id", user)
		a.PutInt("http.response.body.size", int64(rng.IntN(50_000)))
		for extra := rng.IntN(8); extra > 0; extra-- {
			switch rng.IntN(4) {
			case 0:
				a.PutStr("db.system.name", "postgresql")
			case 1:
				a.PutStr("db.query.text", "SELECT * FROM orders WHERE customer_id = $1")
			case 2:
				a.PutStr("session.id", fmt.Sprintf("sess-%06d", rng.IntN(100_000)))
			case 3:
				a.PutBool("cache.hit", rng.IntN(2) == 0)
			}
		}
		status := int64(200)
		if failed && i == n-1 {
			status = 503
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage("upstream unavailable")
			ev := sp.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(nd.start.Add(nd.dur)))
			ev.Attributes().PutStr("exception.type", "*net.OpError")
			ev.Attributes().PutStr("exception.message", "dial tcp 10.0.3.7:5432: connect: connection refused")
		}
		a.PutInt("http.response.status_code", status)
		nodes = append(nodes, nd)
	}
	return n
}
