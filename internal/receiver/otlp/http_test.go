package otlp

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/clewtrace/clew/internal/consumer"
)

// fixtureSpans are the spans inside each captured client payload (see
// testdata/README in /work/shared/fixtures/clients).
var fixtureSpans = map[string][]spanRef{
	"browser-otlp-http.json": {
		{"64d88d91643fb418012b340950ce2b51", "add7a9a869673979", "ui.click"},
		{"64d88d91643fb418012b340950ce2b51", "99d303709e8bad4a", "GET"},
		{"64d88d91643fb418012b340950ce2b51", "1a0ea0cf965384f3", "GET"},
	},
	"go-otlp-http-json.json": { // UPPERCASE hex on the wire
		{"0ea4da89dce58e1629d8aaf44dd1e176", "191245a8f4f1e6f3", "HTTP GET"},
		{"0ea4da89dce58e1629d8aaf44dd1e176", "55b325fdb3ab480a", "job.run"},
	},
	"go-otlp-http-proto.pb": {
		{"7c4c5ddb652c4280c5e8065e3b1b60fd", "3a478e196d7490fe", "HTTP GET"},
		{"7c4c5ddb652c4280c5e8065e3b1b60fd", "0df4f1fa059881d0", "job.run"},
	},
	"node-otlp-grpc.grpc": {
		{"6e20b1095570e823f4000d9e5635e5ee", "43d443c3d7353d85", "SELECT shop.orders"},
		{"6e20b1095570e823f4000d9e5635e5ee", "c0100ec82aaded1b", "GET /checkout"},
	},
	"node-otlp-http-json.json": {
		{"6954b8303fa0c11035fa36c61f53602a", "3f4f362be34dc786", "SELECT shop.orders"},
		{"6954b8303fa0c11035fa36c61f53602a", "afa88b86deb1affb", "GET /checkout"},
	},
	"node-otlp-http-proto-gzip.pb.gz": {
		{"2aa6e0589b9326cfc2e164e7b93385c0", "802085f7ce7f59ee", "SELECT shop.orders"},
		{"2aa6e0589b9326cfc2e164e7b93385c0", "d00fcf75d6d2edec", "GET /checkout"},
	},
	"node-otlp-http-proto.pb": {
		{"a352e36fd99fe94c7803e405f32b5ea5", "c8cd06878d79676d", "SELECT shop.orders"},
		{"a352e36fd99fe94c7803e405f32b5ea5", "c816ae55dcd47f62", "GET /checkout"},
	},
}

// httpFixtures are the fixtures posted over OTLP/HTTP and their headers.
var httpFixtures = []struct {
	file, contentType string
	gzip              bool
}{
	{"browser-otlp-http.json", "application/json", false},
	{"go-otlp-http-json.json", "application/json", false},
	{"go-otlp-http-proto.pb", "application/x-protobuf", false},
	{"node-otlp-http-json.json", "application/json", false},
	{"node-otlp-http-proto.pb", "application/x-protobuf", false},
	{"node-otlp-http-proto-gzip.pb.gz", "application/x-protobuf", true},
}

func TestHTTPFixturesAccepted(t *testing.T) {
	for _, tc := range httpFixtures {
		t.Run(tc.file, func(t *testing.T) {
			s := &sink{}
			r, _ := newTestReceiver(t, Config{}, s, nil)
			hdr := map[string]string{}
			if tc.gzip {
				hdr["Content-Encoding"] = "gzip"
			}
			rec := post(t, r.HTTPHandler(), "/v1/traces", tc.contentType, readFixture(t, tc.file), hdr)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
			}
			if got := rec.Header().Get("Content-Type"); got != tc.contentType {
				t.Errorf("response Content-Type %q, want %q", got, tc.contentType)
			}
			resp := decodeTraceResponse(t, tc.contentType, rec.Body.Bytes())
			if ps := resp.PartialSuccess(); ps.RejectedSpans() != 0 || ps.ErrorMessage() != "" {
				t.Errorf("unexpected partial success %d %q", ps.RejectedSpans(), ps.ErrorMessage())
			}
			want := sortedRefs(fixtureSpans[tc.file]...)
			if got := s.spans(); !slices.Equal(got, want) {
				t.Errorf("spans\n got %v\nwant %v", got, want)
			}
			if got := counterValue(t, r.metrics.acceptedSpans.WithLabelValues(transportHTTP)); got != float64(len(want)) {
				t.Errorf("accepted_spans_total %v, want %d", got, len(want))
			}
		})
	}
}

// TestHTTPJSONLeniency checks the OTLP/JSON rules pdata must honour for us:
// unknown fields ignored, int64 as number or string, enums as integers,
// hex IDs in either case.
func TestHTTPJSONLeniency(t *testing.T) {
	body := `{"resourceSpans":[{"someFutureField":{"x":[1,2]},"resource":{"attributes":[]},
	"scopeSpans":[{"scope":{"name":"s"},"spans":[{
	"traceId":"AbCdEf0123456789abcdef0123456789","spanId":"0123456789ABCDEF","name":"n",
	"kind":3,"startTimeUnixNano":1700000000000000000,"endTimeUnixNano":"1700000000000000001",
	"unknownSpanField":"ignored",
	"attributes":[{"key":"n","value":{"intValue":42}},{"key":"s","value":{"intValue":"-7"}}],
	"status":{"code":2}}]}]}]}`
	s := &sink{}
	r, _ := newTestReceiver(t, Config{}, s, nil)
	rec := post(t, r.HTTPHandler(), "/v1/traces", "application/json; charset=utf-8", []byte(body), nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
	}
	if len(s.traces) != 1 {
		t.Fatalf("got %d batches", len(s.traces))
	}
	sp := s.traces[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	checks := []struct {
		name      string
		got, want any
	}{
		{"traceId", sp.TraceID().String(), "abcdef0123456789abcdef0123456789"},
		{"spanId", sp.SpanID().String(), "0123456789abcdef"},
		{"kind", int(sp.Kind()), 3},
		{"start", uint64(sp.StartTimestamp()), uint64(1700000000000000000)},
		{"end", uint64(sp.EndTimestamp()), uint64(1700000000000000001)},
		{"status", int(sp.Status().Code()), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for key, want := range map[string]int64{"n": 42, "s": -7} {
		v, ok := sp.Attributes().Get(key)
		if !ok || v.Int() != want {
			t.Errorf("attribute %s = %v (present %v), want %d", key, v.AsRaw(), ok, want)
		}
	}
}

func decodeTraceResponse(t *testing.T, ct string, b []byte) ptraceotlp.ExportResponse {
	t.Helper()
	resp := ptraceotlp.NewExportResponse()
	var err error
	if ct == contentTypeJSON {
		err = resp.UnmarshalJSON(b)
	} else {
		err = resp.UnmarshalProto(b)
	}
	if err != nil {
		t.Fatalf("decode response %q: %v", b, err)
	}
	return resp
}

func decodeStatus(t *testing.T, ct string, b []byte) *spb.Status {
	t.Helper()
	st := &spb.Status{}
	var err error
	if strings.HasPrefix(ct, contentTypeProto) {
		err = proto.Unmarshal(b, st)
	} else {
		err = protojson.Unmarshal(b, st)
	}
	if err != nil {
		t.Fatalf("decode google.rpc.Status %q (%s): %v", b, ct, err)
	}
	return st
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHTTPRefusals(t *testing.T) {
	proto := readFixture(t, "node-otlp-http-proto.pb")
	big := bytes.Repeat([]byte{0}, 2048)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		hdr         map[string]string
		wantStatus  int
		wantCode    codes.Code // in the google.rpc.Status body; 0 = no body check
		wantReason  string     // refused_requests_total label; "" = none counted
	}{
		{name: "unknown path", path: "/v1/spans", contentType: contentTypeProto, body: proto, wantStatus: 404, wantCode: codes.NotFound},
		{name: "trailing slash", path: "/v1/traces/", contentType: contentTypeProto, body: proto, wantStatus: 404},
		{name: "GET", method: http.MethodGet, path: "/v1/traces", wantStatus: 405, wantCode: codes.Unimplemented},
		{name: "PUT", method: http.MethodPut, path: "/v1/logs", contentType: contentTypeProto, body: proto, wantStatus: 405},
		{name: "text/plain", path: "/v1/traces", contentType: "text/plain", body: proto, wantStatus: 415, wantReason: reasonBadRequest},
		{name: "no content type", path: "/v1/traces", body: proto, wantStatus: 415, wantReason: reasonBadRequest},
		{name: "unknown encoding", path: "/v1/traces", contentType: contentTypeProto, body: proto, hdr: map[string]string{"Content-Encoding": "br"}, wantStatus: 415, wantReason: reasonBadRequest},
		{name: "truncated protobuf", path: "/v1/traces", contentType: contentTypeProto, body: proto[:len(proto)-7], wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: reasonBadRequest},
		{name: "truncated protobuf logs", path: "/v1/logs", contentType: contentTypeProto, body: proto[:len(proto)-7], wantStatus: 400, wantReason: reasonBadRequest},
		{name: "truncated protobuf metrics", path: "/v1/metrics", contentType: contentTypeProto, body: proto[:len(proto)-7], wantStatus: 400, wantReason: reasonBadRequest},
		{name: "truncated json", path: "/v1/traces", contentType: contentTypeJSON, body: []byte(`{"resourceSpans":[{"scopeSpans":[`), wantStatus: 400, wantCode: codes.InvalidArgument, wantReason: reasonBadRequest},
		{name: "bad hex id json", path: "/v1/traces", contentType: contentTypeJSON, body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708"}]}]}]}`), wantStatus: 400, wantReason: reasonBadRequest},
		{name: "not gzip", path: "/v1/traces", contentType: contentTypeProto, body: proto, hdr: map[string]string{"Content-Encoding": "gzip"}, wantStatus: 400, wantReason: reasonBadRequest},
		{name: "corrupt gzip", path: "/v1/traces", contentType: contentTypeProto, body: corruptGzip(t, proto), hdr: map[string]string{"Content-Encoding": "gzip"}, wantStatus: 400, wantReason: reasonBadRequest},
		{name: "too large", path: "/v1/traces", contentType: contentTypeProto, body: big, wantStatus: 413, wantCode: codes.ResourceExhausted, wantReason: reasonTooLarge},
		{name: "too large after gunzip", path: "/v1/traces", contentType: contentTypeProto, body: gzipBytes(t, big), hdr: map[string]string{"Content-Encoding": "gzip"}, wantStatus: 413, wantReason: reasonTooLarge},
		{name: "too large json", path: "/v1/traces", contentType: contentTypeJSON, body: big, wantStatus: 413, wantReason: reasonTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			// 1 KiB cap: the fixtures fit, big does not.
			r, _ := newTestReceiver(t, Config{MaxRequestBytes: 1024}, s, nil)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req := newRequest(method, tc.path, tc.contentType, tc.body, tc.hdr)
			rec := serve(r, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %q", rec.Code, tc.wantStatus, rec.Body.String())
			}
			if tc.wantCode != 0 {
				st := decodeStatus(t, rec.Header().Get("Content-Type"), rec.Body.Bytes())
				if codes.Code(st.GetCode()) != tc.wantCode || st.GetMessage() == "" {
					t.Errorf("status body code %v message %q, want code %v and a message", codes.Code(st.GetCode()), st.GetMessage(), tc.wantCode)
				}
			}
			if rec.Header().Get("Retry-After") != "" {
				t.Errorf("Retry-After set on a non-retryable %d", rec.Code)
			}
			if len(s.traces) != 0 {
				t.Errorf("consumer was called for a refused request")
			}
			if tc.wantReason != "" {
				if got := counterValue(t, r.metrics.refusedRequests.WithLabelValues(transportHTTP, tc.wantReason)); got != 1 {
					t.Errorf("refused_requests_total{reason=%q} = %v, want 1", tc.wantReason, got)
				}
			}
		})
	}
}

func corruptGzip(t *testing.T, b []byte) []byte {
	z := gzipBytes(t, b)
	z[len(z)-5] ^= 0xff // breaks the CRC/size trailer
	return z
}

// TestHTTPErrorBodyEncoding checks failures answer in the request's encoding.
func TestHTTPErrorBodyEncoding(t *testing.T) {
	for _, ct := range []string{contentTypeProto, contentTypeJSON} {
		t.Run(ct, func(t *testing.T) {
			r, _ := newTestReceiver(t, Config{}, &sink{}, nil)
			rec := post(t, r.HTTPHandler(), "/v1/traces", ct, []byte{0xff, 0xff, 0xff}, nil)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != ct {
				t.Fatalf("Content-Type %q, want %q", got, ct)
			}
			if st := decodeStatus(t, ct, rec.Body.Bytes()); codes.Code(st.GetCode()) != codes.InvalidArgument {
				t.Errorf("code %v", st.GetCode())
			}
		})
	}
}

// TestHTTPGzipBomb sends 1 GiB of zeros (as concatenated gzip members, which
// gzip readers must accept) and checks the receiver stops at the cap without
// allocating anywhere near the decompressed size.
func TestHTTPGzipBomb(t *testing.T) {
	const capBytes = 4 << 20
	member := gzipBytes(t, make([]byte, 1<<20))
	bomb := bytes.Repeat(member, 1024) // 1 GiB decompressed, ~1 MiB on the wire
	r, _ := newTestReceiver(t, Config{MaxRequestBytes: capBytes}, &sink{}, nil)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rec := post(t, r.HTTPHandler(), "/v1/traces", contentTypeProto, bomb, map[string]string{"Content-Encoding": "gzip"})
	runtime.ReadMemStats(&after)

	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	// Buffer doublings up to the cap total < 2x cap; allow gzip state and
	// slack, still far below the 1 GiB a naive io.ReadAll would take.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*capBytes {
		t.Errorf("allocated %d bytes for a %d-byte cap", alloc, capBytes)
	}
	if used := r.inFlight.used.Load(); used != 0 {
		t.Errorf("in-flight budget not returned: %d bytes still held", used)
	}
}

func TestHTTPConsumerOutcomes(t *testing.T) {
	body := readFixture(t, "node-otlp-http-proto.pb") // 2 spans
	tests := []struct {
		name           string
		result         consumer.Result
		err            error
		wantStatus     int
		wantRejected   int64
		wantMessage    string
		wantRetryAfter string
		wantAccepted   float64
		wantReason     string
	}{
		{name: "success", wantStatus: 200, wantAccepted: 2},
		{name: "partial", result: consumer.Result{Rejected: 1, Message: "span x has no name"}, wantStatus: 200, wantRejected: 1, wantMessage: "span x has no name", wantAccepted: 1},
		{name: "warning only", result: consumer.Result{Message: "clock skew"}, wantStatus: 200, wantMessage: "clock skew", wantAccepted: 2},
		{name: "rejected more than sent is clamped", result: consumer.Result{Rejected: 99, Message: "m"}, wantStatus: 200, wantRejected: 2, wantMessage: "m"},
		{name: "permanent", err: consumer.Permanentf("bad span: %w", errors.New("x")), wantStatus: 400, wantReason: reasonBadRequest},
		{name: "overloaded", err: fmt.Errorf("wal: %w", consumer.ErrOverloaded), wantStatus: 503, wantRetryAfter: "1", wantReason: reasonOverloaded},
		{name: "store failing", err: errors.New("disk full"), wantStatus: 503, wantRetryAfter: "1", wantReason: reasonUnavailable},
	}
	for _, tc := range tests {
		for _, ct := range []string{contentTypeProto, contentTypeJSON} {
			t.Run(tc.name+"/"+ct, func(t *testing.T) {
				s := &sink{result: tc.result, err: tc.err}
				r, _ := newTestReceiver(t, Config{}, s, nil)
				payload := body
				if ct == contentTypeJSON {
					payload = toJSON(t, body)
				}
				rec := post(t, r.HTTPHandler(), "/v1/traces", ct, payload, nil)
				if rec.Code != tc.wantStatus {
					t.Fatalf("status %d, want %d; body %q", rec.Code, tc.wantStatus, rec.Body.String())
				}
				if got := rec.Header().Get("Retry-After"); got != tc.wantRetryAfter {
					t.Errorf("Retry-After %q, want %q", got, tc.wantRetryAfter)
				}
				if got := rec.Header().Get("Content-Type"); got != ct {
					t.Errorf("Content-Type %q, want %q", got, ct)
				}
				if tc.wantStatus == 200 {
					ps := decodeTraceResponse(t, ct, rec.Body.Bytes()).PartialSuccess()
					if ps.RejectedSpans() != tc.wantRejected || ps.ErrorMessage() != tc.wantMessage {
						t.Errorf("partial_success (%d, %q), want (%d, %q)", ps.RejectedSpans(), ps.ErrorMessage(), tc.wantRejected, tc.wantMessage)
					}
					if tc.wantRejected == 0 && tc.wantMessage == "" && bytes.Contains(rec.Body.Bytes(), []byte("partialSuccess")) {
						t.Errorf("partial_success set on full success: %s", rec.Body.Bytes())
					}
				} else {
					st := decodeStatus(t, ct, rec.Body.Bytes())
					if st.GetMessage() == "" {
						t.Error("empty status message")
					}
					if strings.Contains(st.GetMessage(), "disk full") {
						t.Errorf("internal error leaked to client: %q", st.GetMessage())
					}
				}
				if got := counterValue(t, r.metrics.acceptedSpans.WithLabelValues(transportHTTP)); got != tc.wantAccepted {
					t.Errorf("accepted %v, want %v", got, tc.wantAccepted)
				}
				if tc.wantReason != "" {
					if got := counterValue(t, r.metrics.refusedRequests.WithLabelValues(transportHTTP, tc.wantReason)); got != 1 {
						t.Errorf("refused{%s} = %v", tc.wantReason, got)
					}
				}
			})
		}
	}
}

func toJSON(t *testing.T, protoBody []byte) []byte {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(protoBody); err != nil {
		t.Fatal(err)
	}
	b, err := req.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testMetrics(points int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("requests")
	g := m.SetEmptyGauge()
	for i := range points {
		g.DataPoints().AppendEmpty().SetIntValue(int64(i))
	}
	return md
}

func TestHTTPMetricsRejected(t *testing.T) {
	tests := []struct {
		name         string
		points       int
		wantRejected int64
		wantMessage  string
	}{
		{"three points", 3, 3, "Clew does not store metrics; 3 data points rejected"},
		{"empty request", 0, 0, ""},
	}
	for _, tc := range tests {
		for _, ct := range []string{contentTypeProto, contentTypeJSON} {
			t.Run(tc.name+"/"+ct, func(t *testing.T) {
				r, _ := newTestReceiver(t, Config{}, &sink{}, nil)
				req := pmetricotlp.NewExportRequestFromMetrics(testMetrics(tc.points))
				var body []byte
				var err error
				if ct == contentTypeJSON {
					body, err = req.MarshalJSON()
				} else {
					body, err = req.MarshalProto()
				}
				if err != nil {
					t.Fatal(err)
				}
				rec := post(t, r.HTTPHandler(), "/v1/metrics", ct, body, nil)
				if rec.Code != 200 {
					t.Fatalf("status %d: %q", rec.Code, rec.Body.String())
				}
				resp := pmetricotlp.NewExportResponse()
				if ct == contentTypeJSON {
					err = resp.UnmarshalJSON(rec.Body.Bytes())
				} else {
					err = resp.UnmarshalProto(rec.Body.Bytes())
				}
				if err != nil {
					t.Fatal(err)
				}
				ps := resp.PartialSuccess()
				if ps.RejectedDataPoints() != tc.wantRejected || ps.ErrorMessage() != tc.wantMessage {
					t.Errorf("partial_success (%d, %q), want (%d, %q)", ps.RejectedDataPoints(), ps.ErrorMessage(), tc.wantRejected, tc.wantMessage)
				}
				if got := counterValue(t, r.metrics.rejectedMetricPoints.WithLabelValues(transportHTTP)); got != float64(tc.wantRejected) {
					t.Errorf("rejected_metric_points_total %v", got)
				}
			})
		}
	}
}

func testLogs(records int) plog.Logs {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range records {
		lr.AppendEmpty().Body().SetStr(fmt.Sprintf("line %d", i))
	}
	return ld
}

func TestHTTPLogs(t *testing.T) {
	tests := []struct {
		name         string
		withConsumer bool
		records      int
		wantRejected int64
		wantMessage  string
		wantStored   int
	}{
		{"stored", true, 4, 0, "", 4},
		{"no logs consumer", false, 4, 4, "this Clew does not store logs; 4 log records rejected", 0},
		{"no logs consumer empty", false, 0, 0, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			var logs consumer.Logs
			if tc.withConsumer {
				logs = s
			}
			r, _ := newTestReceiver(t, Config{}, s, logs)
			body, _ := plogotlp.NewExportRequestFromLogs(testLogs(tc.records)).MarshalProto()
			rec := post(t, r.HTTPHandler(), "/v1/logs", contentTypeProto, body, nil)
			if rec.Code != 200 {
				t.Fatalf("status %d: %q", rec.Code, rec.Body.String())
			}
			resp := plogotlp.NewExportResponse()
			if err := resp.UnmarshalProto(rec.Body.Bytes()); err != nil {
				t.Fatal(err)
			}
			ps := resp.PartialSuccess()
			if ps.RejectedLogRecords() != tc.wantRejected || ps.ErrorMessage() != tc.wantMessage {
				t.Errorf("partial_success (%d, %q), want (%d, %q)", ps.RejectedLogRecords(), ps.ErrorMessage(), tc.wantRejected, tc.wantMessage)
			}
			if got := s.logRecordCount(); got != tc.wantStored {
				t.Errorf("stored %d records, want %d", got, tc.wantStored)
			}
		})
	}
}

// TestHTTPInFlightLimit holds one request inside the consumer and checks a
// second one that does not fit the remaining budget is refused with 503.
func TestHTTPInFlightLimit(t *testing.T) {
	body := readFixture(t, "node-otlp-http-proto.pb")
	limit := int64(len(body)) + 1 + 100 // the first request's lease, plus less than a second one
	s := &sink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	r, _ := newTestReceiver(t, Config{MaxRequestBytes: limit, MaxInFlightBytes: limit}, s, nil)

	first := make(chan int, 1)
	go func() {
		rec := serve(r, newRequest(http.MethodPost, "/v1/traces", contentTypeProto, body, nil))
		first <- rec.Code
	}()
	<-s.entered // the first request now holds its lease inside the consumer

	rec := serve(r, newRequest(http.MethodPost, "/v1/traces", contentTypeProto, body, nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("second request: status %d Retry-After %q, want 503 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(s.block)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first request status %d", code)
	}
	if got := counterValue(t, r.metrics.refusedRequests.WithLabelValues(transportHTTP, reasonOverloaded)); got != 1 {
		t.Errorf("refused{overloaded} = %v", got)
	}
	// Once the first request is done, the budget is free again.
	if used := r.inFlight.used.Load(); used != 0 {
		t.Fatalf("budget still holds %d bytes", used)
	}
	s.mu.Lock()
	s.block, s.entered = nil, nil
	s.mu.Unlock()
	if rec := serve(r, newRequest(http.MethodPost, "/v1/traces", contentTypeProto, body, nil)); rec.Code != http.StatusOK {
		t.Errorf("third request status %d", rec.Code)
	}
}
