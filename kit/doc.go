// Package kit is Clew's public instrumentation kit: thin helpers on top of the
// official OpenTelemetry Go SDK so a service sends traces and logs to Clew
// (or any OTLP backend) with a few lines.
//
// The root package only does setup and log correlation, so importing it does
// not pull in JWT, NATS or AMQP code. The rest lives in sub-packages:
//
//   - kit/kithttp: server middleware (span per route, health checks skipped,
//     exception events for 5xx) and client transport, wrapping otelhttp;
//   - kit/kitjwt: bearer-token verification that tags spans with the end
//     user and propagates the session ID in W3C baggage;
//   - kit/kitqueue: producer/consumer spans and header carriers for queues,
//     with kit/kitnats and kit/kitamqp for NATS and RabbitMQ headers.
//
// Typical use:
//
//	tel, err := kit.Setup(ctx, kit.WithServiceName("orders"), kit.WithServiceVersion("1.4.2"))
//	if err != nil {
//		return err
//	}
//	defer tel.Shutdown(context.WithoutCancel(ctx))
//	logger := slog.New(tel.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
//
// Configuration comes from the standard OTEL_* environment variables; with
// none set, spans and logs go over insecure gRPC to a Clew on localhost:4317.
package kit
