package otlp

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // SDKs may send grpc-encoding: gzip; this registers the decompressor
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clewtrace/clew/internal/listen"
	"github.com/clewtrace/clew/internal/otlpwire"
)

// newGRPCServer builds the :4317 server with the three OTLP services.
func (r *Receiver) newGRPCServer() *grpc.Server {
	s := grpc.NewServer(append(listen.GRPCOptions(listen.DefaultLimits()),
		// gRPC checks this after decompression and answers
		// RESOURCE_EXHAUSTED without RetryInfo, as OTLP wants.
		grpc.MaxRecvMsgSize(int(r.cfg.MaxRequestBytes)),
		// Static windows switch off grpc-go's dynamic window, which can grow a
		// stream's window to 16 MiB: a stream whose message is not being read
		// (see receiveGate) then buffers at most 64 KiB. A message being read
		// gets a window of its whole size anyway, so this costs no throughput;
		// the connection window stays large for long links.
		grpc.StaticStreamWindowSize(64<<10),
		grpc.StaticConnWindowSize(16<<20),
		grpc.InTapHandle(r.tap),
		grpc.ForceServerCodecV2(wireCodec{proto: encoding.GetCodecV2("proto")}),
	)...)
	s.RegisterService(&traceServiceDesc, r)
	s.RegisterService(&logsServiceDesc, r)
	s.RegisterService(&metricsServiceDesc, r)
	return s
}

// tap runs when a stream opens, before its message is read: refusing here
// costs no memory for the body.
func (r *Receiver) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !r.authorized(info.Header.Get("authorization")) {
		return ctx, r.grpcStatus(ctx, info.FullMethodName, unauthorized())
	}
	if r.inFlight.exhausted(grpcClient(ctx)) {
		return ctx, r.grpcStatus(ctx, info.FullMethodName, overloaded())
	}
	return ctx, nil
}

// grpcClient is the budget key of the stream's peer.
func grpcClient(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return clientKey(p.Addr.String())
	}
	return ""
}

// admit takes the in-flight budget for a request of size wire bytes and its
// decoded form, before it is copied out of gRPC's buffers and decoded.
// Holding the lease until the consumer returns bounds what the pipeline
// works on at once.
func (r *Receiver) admit(client string, size int) (*lease, *refusal) {
	l := &lease{b: r.inFlight, client: client}
	if !l.grow(int64(size)) || !l.growForDecode(size) {
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

// The three OTLP services are registered by hand rather than with pdata's
// Register*Server: pdata's handlers decode inside gRPC, which answers a decode
// error with INTERNAL (OTLP wants INVALID_ARGUMENT) and gives no chance to
// bound the nesting before the recursive decoder runs. Ours receive the
// message bytes (see wireCodec) and decode them like the HTTP handler does.
var (
	traceServiceDesc = grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: exportHandler((*Receiver).exportTracesGRPC)}},
		Metadata:    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
	}
	logsServiceDesc = grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.logs.v1.LogsService",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: exportHandler((*Receiver).exportLogsGRPC)}},
		Metadata:    "opentelemetry/proto/collector/logs/v1/logs_service.proto",
	}
	metricsServiceDesc = grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.metrics.v1.MetricsService",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: exportHandler((*Receiver).exportMetricsGRPC)}},
		Metadata:    "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
	}
)

// wireMessage is a protobuf message kept as its encoded bytes: the response
// type of the services above.
type wireMessage []byte

// wireRequest is a received request message still in gRPC's receive
// buffers, so it can be admitted by its size before it is copied out.
type wireRequest struct{ data mem.BufferSlice }

// wireCodec passes wireMessages and wireRequests through as bytes and leaves
// everything else (health checks, reflection, should they be added) to the
// proto codec.
type wireCodec struct{ proto encoding.CodecV2 }

func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*wireMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(*m)}, nil
	}
	return c.proto.Marshal(v)
}

func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*wireRequest); ok {
		data.Ref() // gRPC frees its reference on return; the handler frees this one
		m.data = data
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (wireCodec) Name() string { return "proto" }

// exportHandler adapts an export method to gRPC's unary handler signature.
// Each message is received through the receive gate, then admitted by its
// size (see admit) before it is copied out of gRPC's buffers and decoded.
func exportHandler(export func(*Receiver, context.Context, []byte) ([]byte, *refusal)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		r := srv.(*Receiver)
		client := grpcClient(ctx)
		leave, err := r.receiving.enter(ctx, client)
		if err != nil {
			return nil, status.FromContextError(err).Err()
		}
		var in wireRequest
		err = dec(&in)
		leave()
		if err != nil {
			return nil, err // gRPC has answered already
		}
		l, ref := r.admit(client, in.data.Len())
		defer l.close()
		if ref != nil {
			in.data.Free()
			return nil, r.grpcStatus(ctx, methodName(ctx), ref)
		}
		msg := wireMessage(in.data.Materialize())
		in.data.Free()
		handle := func(ctx context.Context, req any) (any, error) {
			out, ref := export(r, ctx, *req.(*wireMessage))
			if ref != nil {
				return nil, r.grpcStatus(ctx, methodName(ctx), ref)
			}
			resp := wireMessage(out)
			return &resp, nil
		}
		if interceptor == nil {
			return handle(ctx, &msg)
		}
		return interceptor(ctx, &msg, &grpc.UnaryServerInfo{Server: srv, FullMethod: methodName(ctx)}, handle)
	}
}

func (r *Receiver) exportTracesGRPC(ctx context.Context, msg []byte) ([]byte, *refusal) {
	r.metrics.requestBytes.WithLabelValues(transportGRPC, "traces").Add(float64(len(msg)))
	er := ptraceotlp.NewExportRequest()
	if err := unmarshal(contentTypeProto, msg, otlpwire.Traces, er.UnmarshalProto, nil); err != nil {
		return nil, badRequest("cannot decode ExportTraceServiceRequest: %v", err)
	}
	p, ref := r.exportTraces(ctx, transportGRPC, er.Traces())
	if ref != nil {
		return nil, ref
	}
	resp := ptraceotlp.NewExportResponse()
	if p.rejected != 0 || p.message != "" {
		resp.PartialSuccess().SetRejectedSpans(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return marshal(contentTypeProto, p, resp.MarshalProto, nil)
}

func (r *Receiver) exportLogsGRPC(ctx context.Context, msg []byte) ([]byte, *refusal) {
	r.metrics.requestBytes.WithLabelValues(transportGRPC, "logs").Add(float64(len(msg)))
	er := plogotlp.NewExportRequest()
	if err := unmarshal(contentTypeProto, msg, otlpwire.Logs, er.UnmarshalProto, nil); err != nil {
		return nil, badRequest("cannot decode ExportLogsServiceRequest: %v", err)
	}
	p, ref := r.exportLogs(ctx, transportGRPC, er.Logs())
	if ref != nil {
		return nil, ref
	}
	resp := plogotlp.NewExportResponse()
	if p.rejected != 0 || p.message != "" {
		resp.PartialSuccess().SetRejectedLogRecords(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return marshal(contentTypeProto, p, resp.MarshalProto, nil)
}

func (r *Receiver) exportMetricsGRPC(_ context.Context, msg []byte) ([]byte, *refusal) {
	r.metrics.requestBytes.WithLabelValues(transportGRPC, "metrics").Add(float64(len(msg)))
	er := pmetricotlp.NewExportRequest()
	if err := unmarshal(contentTypeProto, msg, otlpwire.Metrics, er.UnmarshalProto, nil); err != nil {
		return nil, badRequest("cannot decode ExportMetricsServiceRequest: %v", err)
	}
	p := r.exportMetrics(transportGRPC, er.Metrics())
	resp := pmetricotlp.NewExportResponse()
	if p.rejected != 0 {
		resp.PartialSuccess().SetRejectedDataPoints(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return marshal(contentTypeProto, p, resp.MarshalProto, nil)
}
