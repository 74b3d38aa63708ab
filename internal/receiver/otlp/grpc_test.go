package otlp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/clewtrace/clew/internal/consumer"
)

// rawCodec sends pre-encoded protobuf bytes unchanged, so a captured gRPC
// frame reaches the server exactly as the client wrote it.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// startGRPC runs a receiver with only gRPC on 127.0.0.1:0 and a client
// connection to it; both are closed at test end.
func startGRPC(t *testing.T, cfg Config, traces consumer.Traces, logs consumer.Logs) (*Receiver, *grpc.ClientConn) {
	t.Helper()
	cfg.GRPCAddr = "127.0.0.1:0"
	r, _ := newTestReceiver(t, cfg, traces, logs)
	if err := r.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	cc, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return r, cc
}

func TestGRPCNodeFixture(t *testing.T) {
	frame := readFixture(t, "node-otlp-grpc.grpc")
	// gRPC length prefix: 1 byte compressed flag + 4 bytes big-endian length.
	if frame[0] != 0 || int(frame[1])<<24|int(frame[2])<<16|int(frame[3])<<8|int(frame[4]) != len(frame)-5 {
		t.Fatalf("fixture is not one uncompressed gRPC frame")
	}
	msg := frame[5:]
	s := &sink{}
	_, cc := startGRPC(t, Config{}, s, nil)

	var out []byte
	err := cc.Invoke(t.Context(), "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &msg, &out, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	resp := ptraceotlp.NewExportResponse()
	if err := resp.UnmarshalProto(out); err != nil {
		t.Fatal(err)
	}
	if resp.PartialSuccess().RejectedSpans() != 0 {
		t.Errorf("rejected %d", resp.PartialSuccess().RejectedSpans())
	}
	want := sortedRefs(fixtureSpans["node-otlp-grpc.grpc"]...)
	if got := s.spans(); !slices.Equal(got, want) {
		t.Errorf("spans\n got %v\nwant %v", got, want)
	}
}

func fixtureRequest(t *testing.T) ptraceotlp.ExportRequest {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(readFixture(t, "node-otlp-http-proto.pb")); err != nil {
		t.Fatal(err)
	}
	return req
}

func retryDelayOf(err error) (time.Duration, bool) {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

func TestGRPCOutcomes(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		md           metadata.MD
		result       consumer.Result
		err          error
		wantCode     codes.Code
		wantRetry    bool
		wantRejected int64
		wantMessage  string
		wantSpans    int
	}{
		{name: "success", wantCode: codes.OK, wantSpans: 2},
		{name: "partial", result: consumer.Result{Rejected: 1, Message: "one bad span"}, wantCode: codes.OK, wantRejected: 1, wantMessage: "one bad span", wantSpans: 2},
		{name: "permanent", err: consumer.Permanentf("bad"), wantCode: codes.InvalidArgument, wantSpans: 2},
		{name: "overloaded", err: consumer.ErrOverloaded, wantCode: codes.Unavailable, wantRetry: true, wantSpans: 2},
		{name: "store failing", err: errors.New("fsync failed"), wantCode: codes.Unavailable, wantRetry: true, wantSpans: 2},
		{name: "too large", cfg: Config{MaxRequestBytes: 100}, wantCode: codes.ResourceExhausted},
		{name: "no token", cfg: Config{AuthToken: "s3cret"}, wantCode: codes.Unauthenticated},
		{name: "wrong token", cfg: Config{AuthToken: "s3cret"}, md: metadata.Pairs("authorization", "Bearer nope"), wantCode: codes.Unauthenticated},
		{name: "right token", cfg: Config{AuthToken: "s3cret"}, md: metadata.Pairs("authorization", "Bearer s3cret"), wantCode: codes.OK, wantSpans: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{result: tc.result, err: tc.err}
			_, cc := startGRPC(t, tc.cfg, s, nil)
			ctx := t.Context()
			if tc.md != nil {
				ctx = metadata.NewOutgoingContext(ctx, tc.md)
			}
			resp, err := ptraceotlp.NewGRPCClient(cc).Export(ctx, fixtureRequest(t))
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tc.wantCode)
			}
			delay, hasRetry := retryDelayOf(err)
			if hasRetry != tc.wantRetry || (hasRetry && delay != time.Second) {
				t.Errorf("RetryInfo present=%v delay=%v, want present=%v delay=1s", hasRetry, delay, tc.wantRetry)
			}
			if err == nil {
				ps := resp.PartialSuccess()
				if ps.RejectedSpans() != tc.wantRejected || ps.ErrorMessage() != tc.wantMessage {
					t.Errorf("partial_success (%d, %q), want (%d, %q)", ps.RejectedSpans(), ps.ErrorMessage(), tc.wantRejected, tc.wantMessage)
				}
			}
			if got := len(s.spans()); got != tc.wantSpans {
				t.Errorf("consumer saw %d spans, want %d", got, tc.wantSpans)
			}
		})
	}
}

func TestGRPCLogsAndMetrics(t *testing.T) {
	s := &sink{}
	r, cc := startGRPC(t, Config{}, s, nil) // no logs consumer

	lresp, err := plogotlp.NewGRPCClient(cc).Export(t.Context(), plogotlp.NewExportRequestFromLogs(testLogs(2)))
	if err != nil {
		t.Fatalf("logs Export: %v", err)
	}
	if ps := lresp.PartialSuccess(); ps.RejectedLogRecords() != 2 || ps.ErrorMessage() == "" {
		t.Errorf("logs partial_success (%d, %q), want 2 rejected with a message", ps.RejectedLogRecords(), ps.ErrorMessage())
	}

	mresp, err := pmetricotlp.NewGRPCClient(cc).Export(t.Context(), pmetricotlp.NewExportRequestFromMetrics(testMetrics(5)))
	if err != nil {
		t.Fatalf("metrics Export: %v", err)
	}
	if ps := mresp.PartialSuccess(); ps.RejectedDataPoints() != 5 || ps.ErrorMessage() != "Clew does not store metrics; 5 data points rejected" {
		t.Errorf("metrics partial_success (%d, %q)", ps.RejectedDataPoints(), ps.ErrorMessage())
	}
	if got := counterValue(t, r.metrics.rejectedMetricPoints.WithLabelValues(transportGRPC)); got != 5 {
		t.Errorf("rejected_metric_points_total{grpc} = %v", got)
	}

	// With a logs consumer the records are stored.
	s2 := &sink{}
	_, cc2 := startGRPC(t, Config{}, s2, s2)
	if _, err := plogotlp.NewGRPCClient(cc2).Export(t.Context(), plogotlp.NewExportRequestFromLogs(testLogs(3))); err != nil {
		t.Fatalf("logs Export: %v", err)
	}
	if got := s2.logRecordCount(); got != 3 {
		t.Errorf("stored %d log records, want 3", got)
	}
}

// TestGRPCInFlightLimit holds one export in the consumer; with the budget
// exhausted the next stream is refused before its message is read.
func TestGRPCInFlightLimit(t *testing.T) {
	firstReq, secondReq := fixtureRequest(t), fixtureRequest(t)
	encoded, _ := firstReq.MarshalProto()
	limit := int64(len(encoded))
	s := &sink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	r, cc := startGRPC(t, Config{MaxRequestBytes: limit, MaxInFlightBytes: limit}, s, nil)
	client := ptraceotlp.NewGRPCClient(cc)

	first := make(chan error, 1)
	go func() {
		_, err := client.Export(t.Context(), firstReq)
		first <- err
	}()
	<-s.entered

	_, err := client.Export(t.Context(), secondReq)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("second export: %v, want UNAVAILABLE", err)
	}
	if _, ok := retryDelayOf(err); !ok {
		t.Errorf("second export: no RetryInfo in %v", err)
	}
	close(s.block)
	if err := <-first; err != nil {
		t.Errorf("first export: %v", err)
	}
	if got := counterValue(t, r.metrics.refusedRequests.WithLabelValues(transportGRPC, reasonOverloaded)); got != 1 {
		t.Errorf("refused{grpc,overloaded} = %v", got)
	}
}

// TestGRPCDecodeErrorIsInvalidArgument: a message that is not protobuf is the
// client's fault, so OTLP wants INVALID_ARGUMENT (gRPC's own decoding said
// INTERNAL, which clients may retry), with a message saying what failed.
func TestGRPCDecodeErrorIsInvalidArgument(t *testing.T) {
	s := &sink{}
	_, cc := startGRPC(t, Config{}, s, s)
	for _, method := range []string{
		"/opentelemetry.proto.collector.trace.v1.TraceService/Export",
		"/opentelemetry.proto.collector.logs.v1.LogsService/Export",
		"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	} {
		msg := []byte{0x0a, 0x10, 0x01} // resource_spans of 16 bytes, 1 present
		var out []byte
		err := cc.Invoke(t.Context(), method, &msg, &out, grpc.ForceCodec(rawCodec{}))
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "cannot decode") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT saying it cannot decode", method, err)
		}
	}
	if len(s.spans()) != 0 || s.logRecordCount() != 0 {
		t.Error("undecodable requests reached the consumer")
	}
}
