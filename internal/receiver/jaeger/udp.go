package jaeger

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	// maxDatagram is the largest emitBatch datagram accepted; Jaeger clients
	// keep their packets at or below 65000 bytes.
	maxDatagram = 65000
	// udpWorkers consume the queue concurrently so one slow consumer call
	// does not stall the other socket.
	udpWorkers = 2
)

type queued struct {
	td        ptrace.Traces
	transport string
	spans     int
}

// readLoop reads one socket until it is closed. Decoding happens here, not in
// the workers, so malformed datagrams never take a queue slot and the queue
// holds only what the consumer will see.
func (r *Receiver) readLoop(ctx context.Context, pc net.PacketConn, transport string) {
	defer r.readers.Done()
	// One byte more than allowed: a longer datagram is truncated to this
	// size by the kernel, so n > maxDatagram reveals it.
	buf := make([]byte, maxDatagram+1)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.logger.Warn("udp read failed", "transport", transport, "err", err)
			continue
		}
		r.handleDatagram(ctx, buf[:n], transport)
		if r.afterDatagram != nil {
			r.afterDatagram()
		}
	}
}

func (r *Receiver) handleDatagram(ctx context.Context, b []byte, transport string) {
	if len(b) > maxDatagram {
		r.metrics.malformed.WithLabelValues(transport).Inc()
		r.logger.Debug("udp datagram too large", "transport", transport, "bytes", len(b))
		return
	}
	batch, err := decodeEmitBatch(ctx, b, transport == transportCompact)
	if err != nil {
		r.metrics.malformed.WithLabelValues(transport).Inc()
		r.logger.Debug("malformed udp datagram", "transport", transport, "err", err)
		return
	}
	// The decoder copies strings and binaries out of b, so buf can be reused.
	td := toTraces(batch)
	n := td.SpanCount()
	if n == 0 {
		return
	}
	select {
	case r.queue <- queued{td: td, transport: transport, spans: n}:
	default:
		r.metrics.dropped.WithLabelValues(transport).Add(float64(n))
	}
}

func (r *Receiver) consumeLoop(ctx context.Context) {
	defer r.workers.Done()
	for q := range r.queue {
		res, err := r.next.ConsumeTraces(ctx, q.td)
		if err != nil {
			// UDP has no way to ask the client to retry: the batch is lost.
			r.metrics.refused.WithLabelValues(q.transport).Add(float64(q.spans))
			if ok, suppressed := r.warns.Allow(); ok {
				r.logger.Warn("udp batch refused", "transport", q.transport, "spans", q.spans, "err", err, "suppressed", suppressed)
			}
			continue
		}
		r.countResult(q.transport, q.spans, res)
	}
}

// decodeEmitBatch decodes one agent datagram: a oneway "emitBatch" message
// whose argument struct holds the Batch in field 1.
func decodeEmitBatch(ctx context.Context, datagram []byte, compact bool) (*jaeger.Batch, error) {
	var p thrift.TProtocol
	if compact {
		p = thrift.NewTCompactProtocolConf(memTransport(datagram), thriftConf(len(datagram)))
	} else {
		p = thrift.NewTBinaryProtocolConf(memTransport(datagram), thriftConf(len(datagram)))
	}
	name, typ, _, err := p.ReadMessageBegin(ctx)
	if err != nil {
		return nil, fmt.Errorf("decode agent message header: %w", err)
	}
	if name != "emitBatch" {
		return nil, fmt.Errorf("unsupported agent method %q", name)
	}
	if typ != thrift.ONEWAY && typ != thrift.CALL {
		return nil, fmt.Errorf("unexpected thrift message type %d", typ)
	}
	args := agent.NewAgentEmitBatchArgs()
	if err := args.Read(ctx, p); err != nil {
		return nil, fmt.Errorf("decode emitBatch arguments: %w", err)
	}
	if err := p.ReadMessageEnd(ctx); err != nil {
		return nil, fmt.Errorf("decode agent message end: %w", err)
	}
	if args.Batch == nil {
		return nil, errors.New("emitBatch without a batch")
	}
	return args.Batch, nil
}
