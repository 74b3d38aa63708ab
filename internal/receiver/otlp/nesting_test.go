package otlp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clewtrace/clew/internal/otlpwire"
	"github.com/clewtrace/clew/internal/otlpwire/otlptest"
)

// startBoth runs a receiver with HTTP and gRPC on loopback ports.
func startBoth(t *testing.T, cfg Config, s *sink) (*Receiver, *grpc.ClientConn, string) {
	t.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	r, cc := startGRPC(t, cfg, s, s)
	return r, cc, "http://" + r.HTTPAddr().String()
}

// TestDeepNestingRefusedOverTheWire sends a million levels of nesting (about
// 9 MB of protobuf, 28 MB of JSON) and, for the other signals and
// encodings, 100,000 levels over HTTP and gRPC: each is refused as a bad
// request, nothing reaches the consumer, and the receiver still takes an
// export at the limit afterwards.
func TestDeepNestingRefusedOverTheWire(t *testing.T) {
	const levels, fewer = 1_000_000, 100_000
	s := &sink{}
	_, cc, base := startBoth(t, Config{}, s)

	for _, c := range []struct {
		name, path, ct string
		body           []byte
		gzip           bool
	}{
		{"traces protobuf array", pathTraces, contentTypeProto, otlptest.TracesProto(levels, otlptest.Array), false},
		{"traces protobuf kvlist gzip", pathTraces, contentTypeProto, otlptest.TracesProto(fewer, otlptest.KVList), true},
		{"traces JSON array", pathTraces, contentTypeJSON, otlptest.TracesJSON(levels, otlptest.Array), false},
		{"traces JSON kvlist gzip", pathTraces, contentTypeJSON, otlptest.TracesJSON(fewer, otlptest.KVList), true},
		{"logs protobuf body", pathLogs, contentTypeProto, otlptest.LogsProto(fewer, otlptest.Array), false},
		{"logs JSON body", pathLogs, contentTypeJSON, otlptest.LogsJSON(fewer, otlptest.KVList), false},
		{"metrics protobuf", pathMetrics, contentTypeProto, otlptest.MetricsProto(fewer, otlptest.Array), false},
	} {
		body := c.body
		req, _ := http.NewRequest(http.MethodPost, base+c.path, nil)
		if c.gzip {
			body = gzipBytes(t, body)
			req.Header.Set("Content-Encoding", "gzip")
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", c.ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v (did the process survive?)", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		st := decodeStatus(t, c.ct, b)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(st.GetMessage(), "more than 64 levels deep") {
			t.Errorf("%s: status %d %q, want 400 naming the depth limit", c.name, resp.StatusCode, st.GetMessage())
		}
	}

	for _, c := range []struct {
		method string
		msg    []byte
	}{
		{"/opentelemetry.proto.collector.trace.v1.TraceService/Export", otlptest.TracesProto(levels, otlptest.KVList)},
		{"/opentelemetry.proto.collector.logs.v1.LogsService/Export", otlptest.LogsProto(fewer, otlptest.Array)},
		{"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", otlptest.MetricsProto(fewer, otlptest.KVList)},
	} {
		var out []byte
		err := cc.Invoke(t.Context(), c.method, &c.msg, &out, grpc.ForceCodec(rawCodec{}))
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "more than 64 levels deep") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT naming the depth limit", c.method, err)
		}
	}
	if n := len(s.spans()) + s.logRecordCount(); n != 0 {
		t.Errorf("%d deep items reached the consumer", n)
	}

	// Still serving, on both transports, and the limit itself is accepted.
	ok := otlptest.TracesProto(otlpwire.MaxValueDepth, otlptest.Array)
	rec, err := http.Post(base+pathTraces, contentTypeProto, bytes.NewReader(ok))
	if err != nil || rec.StatusCode != http.StatusOK {
		t.Fatalf("export at the limit over HTTP after the deep ones: %v %v", rec, err)
	}
	_ = rec.Body.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []byte
	if err := cc.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &ok, &out, grpc.ForceCodec(rawCodec{})); err != nil {
		t.Fatalf("export at the limit over gRPC after the deep ones: %v", err)
	}
	if n := len(s.spans()); n != 2 {
		t.Errorf("consumer got %d spans, want the 2 at the limit", n)
	}
}
