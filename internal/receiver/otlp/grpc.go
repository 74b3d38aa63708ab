package otlp

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // SDKs may send grpc-encoding: gzip; this registers the decompressor
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"
)

// newGRPCServer builds the :4317 server with the three OTLP services.
func (r *Receiver) newGRPCServer() *grpc.Server {
	s := grpc.NewServer(
		// gRPC checks this after decompression and answers
		// RESOURCE_EXHAUSTED without RetryInfo, as OTLP wants.
		grpc.MaxRecvMsgSize(int(r.cfg.MaxRequestBytes)),
		grpc.InTapHandle(r.tap),
	)
	ptraceotlp.RegisterGRPCServer(s, &traceService{r: r})
	plogotlp.RegisterGRPCServer(s, &logsService{r: r})
	pmetricotlp.RegisterGRPCServer(s, &metricsService{r: r})
	return s
}

// tap runs when a stream opens, before its message is read: refusing here
// costs no memory for the body.
func (r *Receiver) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !r.authorized(info.Header.Get("authorization")) {
		return ctx, r.grpcStatus(ctx, info.FullMethodName, unauthorized())
	}
	if r.inFlight.exhausted() {
		return ctx, r.grpcStatus(ctx, info.FullMethodName, overloaded())
	}
	return ctx, nil
}

// admit takes size bytes of the in-flight budget for a decoded request.
// gRPC has already read the message, but holding the lease until the consumer
// returns still bounds what the pipeline works on at once.
func (r *Receiver) admit(size int) (*lease, *refusal) {
	l := &lease{b: r.inFlight}
	if !l.grow(int64(size)) {
		return l, overloaded()
	}
	return l, nil
}

// grpcStatus counts a refusal and turns it into a gRPC status error, adding
// RetryInfo when the client should retry.
func (r *Receiver) grpcStatus(ctx context.Context, method string, ref *refusal) error {
	r.metrics.refusedRequests.WithLabelValues(transportGRPC, ref.reason).Inc()
	r.logger.DebugContext(ctx, "otlp: gRPC request refused", slog.String("method", method),
		slog.String("code", ref.code.String()), slog.String("reason", ref.reason), slog.String("message", ref.msg))
	st := status.New(ref.code, ref.msg)
	if ref.retryable {
		withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryDelay())})
		if err == nil {
			st = withInfo
		}
	}
	return st.Err()
}

func retryDelay() time.Duration { return time.Duration(retryAfterSeconds()) * time.Second }

func methodName(ctx context.Context) string {
	m, _ := grpc.Method(ctx)
	return m
}

type traceService struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *traceService) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	r := s.r
	td := req.Traces()
	size := (&ptrace.ProtoMarshaler{}).TracesSize(td)
	l, ref := r.admit(size)
	defer l.close()
	if ref != nil {
		return ptraceotlp.NewExportResponse(), r.grpcStatus(ctx, methodName(ctx), ref)
	}
	r.metrics.requestBytes.WithLabelValues(transportGRPC, "traces").Add(float64(size))
	p, ref := r.exportTraces(ctx, transportGRPC, td)
	if ref != nil {
		return ptraceotlp.NewExportResponse(), r.grpcStatus(ctx, methodName(ctx), ref)
	}
	resp := ptraceotlp.NewExportResponse()
	if p.rejected != 0 || p.message != "" {
		resp.PartialSuccess().SetRejectedSpans(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return resp, nil
}

type logsService struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *logsService) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	r := s.r
	ld := req.Logs()
	size := (&plog.ProtoMarshaler{}).LogsSize(ld)
	l, ref := r.admit(size)
	defer l.close()
	if ref != nil {
		return plogotlp.NewExportResponse(), r.grpcStatus(ctx, methodName(ctx), ref)
	}
	r.metrics.requestBytes.WithLabelValues(transportGRPC, "logs").Add(float64(size))
	p, ref := r.exportLogs(ctx, transportGRPC, ld)
	if ref != nil {
		return plogotlp.NewExportResponse(), r.grpcStatus(ctx, methodName(ctx), ref)
	}
	resp := plogotlp.NewExportResponse()
	if p.rejected != 0 || p.message != "" {
		resp.PartialSuccess().SetRejectedLogRecords(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return resp, nil
}

type metricsService struct {
	pmetricotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *metricsService) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md := req.Metrics()
	s.r.metrics.requestBytes.WithLabelValues(transportGRPC, "metrics").Add(float64((&pmetric.ProtoMarshaler{}).MetricsSize(md)))
	p := s.r.exportMetrics(transportGRPC, md)
	resp := pmetricotlp.NewExportResponse()
	if p.rejected != 0 {
		resp.PartialSuccess().SetRejectedDataPoints(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return resp, nil
}

// Compile-time checks that the services implement pdata's server interfaces.
var (
	_ ptraceotlp.GRPCServer  = (*traceService)(nil)
	_ plogotlp.GRPCServer    = (*logsService)(nil)
	_ pmetricotlp.GRPCServer = (*metricsService)(nil)
)
