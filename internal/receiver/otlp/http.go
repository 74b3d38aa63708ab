package otlp

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/clewtrace/clew/internal/auth"
	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/otlpwire"
)

const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"

	// corsMaxAge is how long browsers may cache a preflight answer, in
	// seconds; Chromium caps it at 7200.
	corsMaxAge = "7200"
)

// Signal paths of OTLP/HTTP.
const (
	pathTraces  = "/v1/traces"
	pathLogs    = "/v1/logs"
	pathMetrics = "/v1/metrics"
)

// httpHandler serves OTLP/HTTP. It is a plain function of the request so the
// same handler runs under http.Server and httptest.
type httpHandler struct{ r *Receiver }

func (h httpHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := h.r
	switch req.URL.Path {
	case pathTraces, pathLogs, pathMetrics:
	default:
		writeStatus(w, contentTypeJSON, http.StatusNotFound, fmt.Sprintf("unknown path %q; OTLP/HTTP serves %s, %s and %s", req.URL.Path, pathTraces, pathLogs, pathMetrics))
		return
	}

	origin := req.Header.Get("Origin")
	allowed := originAllowed(r.origins, origin)
	// Responses differ by Origin, so caches must key on it.
	w.Header().Add("Vary", "Origin")

	if req.Method == http.MethodOptions {
		h.preflight(w, req, origin, allowed)
		return
	}
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		// Retry-After is not a CORS-safelisted response header: without this
		// a browser exporter cannot honour the delay on 503.
		w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeStatus(w, contentTypeJSON, http.StatusMethodNotAllowed, "method "+req.Method+" not allowed; use POST")
		return
	}

	// The response uses the request's encoding; until that is known, JSON.
	ct, ok := requestContentType(req.Header.Get("Content-Type"))
	if !r.authorized(req.Header.Values("Authorization")) {
		w.Header().Set("WWW-Authenticate", auth.Challenge)
		h.refuse(w, req, contentTypeOr(ct, ok), unauthorized())
		return
	}
	if !ok {
		r.metrics.refusedRequests.WithLabelValues(transportHTTP, reasonBadRequest).Inc()
		writeStatus(w, contentTypeJSON, http.StatusUnsupportedMediaType,
			fmt.Sprintf("unsupported content type %q; use %s or %s", req.Header.Get("Content-Type"), contentTypeProto, contentTypeJSON))
		return
	}

	inFlight := r.metrics.inFlightRequests.WithLabelValues(transportHTTP)
	inFlight.Inc()
	defer inFlight.Dec()
	body, l, ref := h.readBody(w, req)
	defer l.close() // held until the consumer returns: the batch is still in memory until then
	if ref != nil {
		h.refuse(w, req, ct, ref)
		return
	}
	r.metrics.requestBytes.WithLabelValues(transportHTTP, strings.TrimPrefix(req.URL.Path, "/v1/")).Add(float64(len(body)))
	if !l.growForDecode(len(body)) {
		h.refuse(w, req, ct, overloaded())
		return
	}

	var resp []byte
	switch req.URL.Path {
	case pathTraces:
		resp, ref = h.traces(req, ct, body)
	case pathLogs:
		resp, ref = h.logs(req, ct, body)
	case pathMetrics:
		resp, ref = h.metrics(ct, body)
	}
	if ref != nil {
		h.refuse(w, req, ct, ref)
		return
	}
	writeBody(w, ct, http.StatusOK, resp)
}

// preflight answers a CORS preflight. A disallowed origin gets 403 and no
// CORS headers, so the browser never sends the POST.
func (h httpHandler) preflight(w http.ResponseWriter, req *http.Request, origin string, allowed bool) {
	method := req.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		// Not a preflight, just OPTIONS: say what the path supports.
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Add("Vary", "Access-Control-Request-Method")
	w.Header().Add("Vary", "Access-Control-Request-Headers")
	if !allowed || method != http.MethodPost {
		h.r.logger.DebugContext(req.Context(), "otlp: CORS preflight denied",
			slog.String("origin", origin), slog.String("method", method))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", origin)
	// navigator.sendBeacon (the OTel JS exporter's transport before 0.200
	// when no headers are set) always sends in credentials mode, and
	// Chromium drops the request unless the answer allows credentials. The
	// origin is always echoed, never "*" (browsers refuse "*" with
	// credentials). Clew reads no cookies, so this grants nothing.
	hdr.Set("Access-Control-Allow-Credentials", "true")
	hdr.Set("Access-Control-Allow-Methods", http.MethodPost)
	// Echo what the browser asked for (content-type, and Authorization or an
	// API-key header when the page sends one).
	if reqHeaders := req.Header.Values("Access-Control-Request-Headers"); len(reqHeaders) > 0 {
		hdr.Set("Access-Control-Allow-Headers", strings.Join(reqHeaders, ", "))
	}
	hdr.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// authorized checks the bearer token (internal/auth, the check every
// listener shares). With no token configured every request is authorized.
func (r *Receiver) authorized(values []string) bool { return r.token.Allows(values) }

// requestContentType returns the supported media type of a Content-Type
// header, ignoring parameters such as charset.
func requestContentType(header string) (string, bool) {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return "", false
	}
	switch mt {
	case contentTypeProto, contentTypeJSON:
		return mt, true
	}
	return "", false
}

func contentTypeOr(ct string, ok bool) string {
	if ok {
		return ct
	}
	return contentTypeJSON
}

// readBody reads the (decompressed) body into memory, growing a lease on the
// in-flight budget as bytes arrive (never the whole Content-Length up
// front, so a client that announces 64 MiB and sends nothing holds almost
// nothing). The body must keep up with Config.MinBodyRate, or the read is cut
// off. The returned lease must be closed by the caller, even when a refusal
// is returned.
func (h httpHandler) readBody(w http.ResponseWriter, req *http.Request) ([]byte, *lease, *refusal) {
	r := h.r
	l := &lease{b: r.inFlight, client: clientKey(req.RemoteAddr)}
	limit := r.cfg.MaxRequestBytes

	paced := newPacedReader(req.Body, http.NewResponseController(w), r.cfg.MinBodyRate, r.cfg.BodyGrace)
	defer paced.done()
	var src io.Reader = paced
	hint := int64(0)
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		if req.ContentLength > limit {
			return nil, l, tooLarge(limit)
		}
		hint = req.ContentLength
	case "gzip", "x-gzip":
		gz, err := gzip.NewReader(src)
		if err != nil {
			if errors.Is(err, errTooSlow) {
				return nil, l, tooSlow(r.cfg.MinBodyRate)
			}
			return nil, l, badRequest("invalid gzip body: %v", err)
		}
		defer gz.Close()
		src = gz
	default:
		return nil, l, &refusal{reason: reasonBadRequest, httpStatus: http.StatusUnsupportedMediaType,
			code: codes.InvalidArgument, msg: fmt.Sprintf("unsupported content encoding %q; use gzip or none", enc)}
	}

	body, err := readLimited(src, limit, hint, l)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, l, tooLarge(limit)
	case errors.Is(err, errNoBudget):
		return nil, l, overloaded()
	case errors.Is(err, errTooSlow):
		return nil, l, tooSlow(r.cfg.MinBodyRate)
	case err != nil:
		return nil, l, badRequest("reading request body: %v", err)
	}
	return body, l, nil
}

var (
	errTooLarge = errors.New("body too large")
	errNoBudget = errors.New("in-flight budget exhausted")
	errTooSlow  = errors.New("body arrived too slowly")
)

// firstChunkMax caps the first buffer when the Content-Length is known: a
// typical batch (tens of KiB) is read in one allocation, a large one grows
// with what actually arrives.
const firstChunkMax = 256 << 10

// readLimited reads src to EOF into a buffer of at most limit bytes. Every
// buffer allocation is first reserved on l, so neither a gzip bomb nor many
// concurrent uploads can allocate past the configured bounds; buffers double
// as data arrives, so a request holds at most about twice what it has sent.
// hint (the Content-Length, when known) sizes the buffers so a body that
// matches it is read without a final over-allocation.
func readLimited(src io.Reader, limit, hint int64, l *lease) ([]byte, error) {
	const minChunk = 32 << 10
	want := limit // the largest buffer this body can need
	if hint > 0 {
		want = min(hint+1, limit) // +1 so the EOF read does not force a grow
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if int64(cap(buf)) >= limit {
				// Full at the cap: one more byte means too large.
				var probe [1]byte
				n, err := io.ReadFull(src, probe[:])
				if n > 0 {
					return nil, errTooLarge
				}
				if errors.Is(err, io.EOF) {
					return buf, nil
				}
				return nil, err
			}
			var newCap int64
			switch {
			case cap(buf) == 0 && hint > 0:
				newCap = min(want, firstChunkMax)
			case cap(buf) == 0:
				newCap = minChunk
			default:
				newCap = 2 * int64(cap(buf))
			}
			if int64(cap(buf)) < want {
				newCap = min(newCap, want) // the announced size, unless it lied
			}
			newCap = min(newCap, limit)
			if !l.grow(newCap - int64(cap(buf))) {
				return nil, errNoBudget
			}
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			buf = nb
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (h httpHandler) traces(req *http.Request, ct string, body []byte) ([]byte, *refusal) {
	er := ptraceotlp.NewExportRequest()
	if err := unmarshal(ct, body, otlpwire.Traces, er.UnmarshalProto, er.UnmarshalJSON); err != nil {
		return nil, badRequest("cannot decode ExportTraceServiceRequest as %s: %v", ct, err)
	}
	p, ref := h.r.exportTraces(req.Context(), transportHTTP, er.Traces())
	if ref != nil {
		return nil, ref
	}
	resp := ptraceotlp.NewExportResponse()
	if p.rejected != 0 || p.message != "" {
		resp.PartialSuccess().SetRejectedSpans(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return marshal(ct, p, resp.MarshalProto, resp.MarshalJSON)
}

func (h httpHandler) logs(req *http.Request, ct string, body []byte) ([]byte, *refusal) {
	er := plogotlp.NewExportRequest()
	if err := unmarshal(ct, body, otlpwire.Logs, er.UnmarshalProto, er.UnmarshalJSON); err != nil {
		return nil, badRequest("cannot decode ExportLogsServiceRequest as %s: %v", ct, err)
	}
	p, ref := h.r.exportLogs(req.Context(), transportHTTP, er.Logs())
	if ref != nil {
		return nil, ref
	}
	resp := plogotlp.NewExportResponse()
	if p.rejected != 0 || p.message != "" {
		resp.PartialSuccess().SetRejectedLogRecords(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return marshal(ct, p, resp.MarshalProto, resp.MarshalJSON)
}

func (h httpHandler) metrics(ct string, body []byte) ([]byte, *refusal) {
	er := pmetricotlp.NewExportRequest()
	if err := unmarshal(ct, body, otlpwire.Metrics, er.UnmarshalProto, er.UnmarshalJSON); err != nil {
		return nil, badRequest("cannot decode ExportMetricsServiceRequest as %s: %v", ct, err)
	}
	p := h.r.exportMetrics(transportHTTP, er.Metrics())
	resp := pmetricotlp.NewExportResponse()
	if p.rejected != 0 {
		resp.PartialSuccess().SetRejectedDataPoints(p.rejected)
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	return marshal(ct, p, resp.MarshalProto, resp.MarshalJSON)
}

// unmarshal decodes body, a request of type root, after checking its nesting
// (see otlpwire.MaxValueDepth): the decoders and everything after them recurse.
func unmarshal(ct string, body []byte, root otlpwire.Message, fromProto, fromJSON func([]byte) error) error {
	if ct == contentTypeJSON {
		if err := otlpwire.CheckJSONNesting(body); err != nil {
			return err
		}
		return fromJSON(body)
	}
	if err := otlpwire.CheckNesting(body, root); err != nil {
		return err
	}
	return fromProto(body)
}

func marshal(ct string, p partial, toProto, toJSON func() ([]byte, error)) ([]byte, *refusal) {
	if ct == contentTypeJSON && p.rejected == 0 && p.message == "" {
		// pdata writes an empty "partialSuccess":{} object; OTLP wants the
		// field unset on full success.
		return []byte("{}"), nil
	}
	f := toProto
	if ct == contentTypeJSON {
		f = toJSON
	}
	b, err := f()
	if err != nil {
		// Marshalling our own response cannot fail for valid pdata; if it
		// does, the data is already stored, so a retry would duplicate it.
		// Still better than acknowledging with a broken body.
		return nil, &refusal{reason: reasonUnavailable, httpStatus: http.StatusInternalServerError, code: codes.Internal, msg: "encoding response: " + err.Error()}
	}
	return b, nil
}

// refuse counts and writes a whole-request refusal.
func (h httpHandler) refuse(w http.ResponseWriter, req *http.Request, ct string, ref *refusal) {
	h.r.metrics.refusedRequests.WithLabelValues(transportHTTP, ref.reason).Inc()
	h.r.logger.DebugContext(req.Context(), "otlp: HTTP request refused",
		slog.String("path", req.URL.Path), slog.Int("status", ref.httpStatus),
		slog.String("reason", ref.reason), slog.String("message", ref.msg))
	if ref.retryable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds()))
	}
	writeStatus(w, ct, ref.httpStatus, ref.msg)
}

func retryAfterSeconds() int {
	return max(1, int(consumer.RetryAfter.Seconds()))
}

// writeStatus writes a google.rpc.Status body, as OTLP requires for failures.
// The code field carries the gRPC code matching the HTTP status.
func writeStatus(w http.ResponseWriter, ct string, httpStatus int, msg string) {
	// Messages may quote undecodable input; protobuf strings must be UTF-8.
	st := &spb.Status{Code: int32(grpcCodeForHTTP(httpStatus)), Message: strings.ToValidUTF8(msg, "\uFFFD")}
	var (
		b   []byte
		err error
	)
	if ct == contentTypeProto {
		b, err = proto.Marshal(st)
	} else {
		ct = contentTypeJSON
		b, err = protojson.Marshal(st)
	}
	if err != nil { // cannot happen for a valid-UTF-8 Status without details
		b = nil
	}
	writeBody(w, ct, httpStatus, b)
}

func writeBody(w http.ResponseWriter, ct string, httpStatus int, b []byte) {
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(httpStatus)
	_, _ = w.Write(b) // the client went away; nothing left to tell it
}

// grpcCodeForHTTP picks the google.rpc.Status code for an HTTP failure body.
func grpcCodeForHTTP(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusMethodNotAllowed:
		return codes.Unimplemented
	case http.StatusRequestEntityTooLarge:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	default:
		return codes.Internal
	}
}
