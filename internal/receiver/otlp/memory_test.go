package otlp

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// bigExport is an export request of about n wire bytes.
func bigExport(t *testing.T, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := 0; ; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("GET /items")
		s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), 1})
		s.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), 2})
		s.Attributes().PutStr("payload", string(bytes.Repeat([]byte("x"), 900)))
		if i%64 == 0 {
			if b, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto(); len(b) >= n {
				return b
			}
		}
	}
}

// TestDecodeMemoryIsAdmitted: a request is admitted for its decoded size
// (about five times its wire size) before it is decoded, on both transports.
// With a budget of four wire-sized requests, one request held in the
// consumer leaves no room for a second: it is refused with retry advice
// instead of being decoded next to the first. Before, the budget counted
// wire bytes only, so both were decoded and memory grew about five times
// past the budget (8 × 62 MB over gRPC reached 2.6 GB).
func TestDecodeMemoryIsAdmitted(t *testing.T) {
	body := bigExport(t, 256<<10)
	wire := int64(len(body))
	s := &sink{block: make(chan struct{}), entered: make(chan struct{}, 4)}
	r := startHTTPAndGRPC(t, Config{MaxRequestBytes: 3 * wire, MaxInFlightBytes: 4 * (wire + 1)}, s)
	url := "http://" + r.HTTPAddr().String() + "/v1/traces"

	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, contentTypeProto, bytes.NewReader(body))
		if err != nil {
			first <- -1
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	select {
	case <-s.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("first request never reached the consumer")
	}

	// The timeouts only catch the failure this test is about: without the
	// admission, the second request is decoded and waits in the consumer.
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(url, contentTypeProto, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("second HTTP request: %v (decoded next to the first instead of refused?)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second HTTP request while the first holds its decoded size: %d, want 503", resp.StatusCode)
	}

	cc, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	er := ptraceotlp.NewExportRequest()
	if err := er.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := ptraceotlp.NewGRPCClient(cc).Export(ctx, er); status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC request while the first holds its decoded size: %v, want UNAVAILABLE", err)
	}
	select {
	case <-s.entered:
		t.Error("a second request was decoded and handed on while the budget was spent")
	default:
	}

	close(s.block)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first request: %d", code)
	}
	waitFor(t, "the budget to be free again", func() bool { return r.inFlight.used.Load() == 0 })
	// A maximal request, whose decoded size exceeds the whole budget, is
	// still admitted when it is alone.
	big := bigExport(t, int(2*wire)) // under MaxRequestBytes, decoded about 10 wire sizes
	resp, err = http.Post(url, contentTypeProto, bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a lone maximal request: %d, want 200", resp.StatusCode)
	}
}
