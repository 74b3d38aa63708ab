package jaeger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/receiver/httpedge"
)

// Content types the Jaeger collector accepts for a binary-protocol Batch.
const (
	contentTypeThrift       = "application/x-thrift" // what jaeger-client for Node sends
	contentTypeThriftBinary = "application/vnd.apache.thrift.binary"
)

var errTooLarge = errors.New("request body too large")

// Handler serves the Jaeger collector API: POST /api/traces with a bare
// jaeger.thrift Batch in TBinaryProtocol. It answers 202 like Jaeger does.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/traces", r.handleTraces)
	return mux
}

func (r *Receiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	ct, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || (ct != contentTypeThrift && ct != contentTypeThriftBinary) {
		http.Error(w, fmt.Sprintf("unsupported content type %q: want %s or %s",
			req.Header.Get("Content-Type"), contentTypeThrift, contentTypeThriftBinary),
			http.StatusUnsupportedMediaType)
		return
	}
	if enc := req.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		// Jaeger clients never compress; refusing is clearer than guessing.
		http.Error(w, fmt.Sprintf("unsupported content encoding %q", enc), http.StatusUnsupportedMediaType)
		return
	}
	body, err := readBody(req, r.cfg.MaxRequestBytes)
	switch {
	case errors.Is(err, errTooLarge):
		http.Error(w, fmt.Sprintf("request body over %d bytes", r.cfg.MaxRequestBytes), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, fmt.Sprintf("read request body: %v", err), http.StatusBadRequest)
		return
	}
	batch, err := decodeBatch(req.Context(), body)
	if err != nil {
		r.metrics.malformed.WithLabelValues(transportHTTP).Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	td := toTraces(batch)
	n := td.SpanCount()
	if n == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	res, err := r.next.ConsumeTraces(req.Context(), td)
	if err != nil {
		r.metrics.refused.WithLabelValues(transportHTTP).Add(float64(n))
		status := httpedge.Refuse(w, err)
		if ok, suppressed := r.warns.Allow(); ok {
			r.logger.LogAttrs(req.Context(), slog.LevelWarn, "batch refused",
				slog.Int("spans", n), slog.Int("status", status), slog.Any("err", err), slog.Int("suppressed", suppressed))
		}
		return
	}
	r.countResult(transportHTTP, n, res)
	w.WriteHeader(http.StatusAccepted)
}

// countResult records an accepted batch. Jaeger has no partial-success answer,
// so rejected spans are only counted and logged.
func (r *Receiver) countResult(transport string, n int, res consumer.Result) {
	rejected := min(max(res.Rejected, 0), int64(n))
	r.metrics.accepted.WithLabelValues(transport).Add(float64(int64(n) - rejected))
	if rejected > 0 {
		r.metrics.refused.WithLabelValues(transport).Add(float64(rejected))
		if ok, suppressed := r.warns.Allow(); ok {
			r.logger.Warn("spans rejected", "transport", transport, "rejected", rejected, "msg", res.Message, "suppressed", suppressed)
		}
	}
}

// readBody reads at most limit bytes; the LimitReader reads one more so that
// "exactly limit" and "over limit" can be told apart.
func readBody(req *http.Request, limit int64) ([]byte, error) {
	if req.ContentLength > limit {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge
	}
	return body, nil
}

// thriftConf bounds every length the decoder reads by the input size, so a
// forged list or string length cannot make it allocate more than it was sent.
func thriftConf(size int) *thrift.TConfiguration {
	return &thrift.TConfiguration{MaxMessageSize: int32(min(max(size, 1), 1<<30))}
}

func memTransport(b []byte) *thrift.TMemoryBuffer {
	t := thrift.NewTMemoryBufferLen(len(b))
	_, _ = t.Write(b) // writing to a bytes.Buffer cannot fail
	return t
}

// decodeBatch decodes the collector's body: a bare Batch, no message envelope.
func decodeBatch(ctx context.Context, body []byte) (*jaeger.Batch, error) {
	p := thrift.NewTBinaryProtocolConf(memTransport(body), thriftConf(len(body)))
	b := jaeger.NewBatch()
	if err := b.Read(ctx, p); err != nil {
		return nil, fmt.Errorf("decode jaeger.thrift Batch: %w", err)
	}
	return b, nil
}
