package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/api/recovery"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store"
	"github.com/clewtrace/clew/internal/store/block"
)

// RecentPath is where a node serves its recent data to peers, on its query
// API (behind the query token, like the rest of /api/).
const RecentPath = "/api/clew/cluster/recent/"

// NodeHeader carries the answering node's ID, so a node that finds itself
// in its peer list (a DNS name resolving to every node) skips itself.
const NodeHeader = "Clew-Node"

// Recent is what a node serves to its peers: the data they cannot read
// from the bucket yet. *store.Store implements it.
type Recent interface {
	RecentTrace(ctx context.Context, id model.TraceID) ([]model.Span, error)
	RecentFindTraces(ctx context.Context, p *predicate.Compiled, limit int) ([]store.Match, error)
	RecentOperations(ctx context.Context) (map[string][]block.OperationInfo, error)
	RecentDependencies(ctx context.Context, from, to time.Time) ([]store.EdgeSource, error)
	RecentScanSpans(ctx context.Context, p *predicate.Compiled, fields block.Fields, fn func(source string, spans []model.Span, starts [][]int64) error) error
}

// Bounds of the peer protocol.
const (
	maxSearchRequest = 1 << 20   // a search's JSON body
	maxSearchLimit   = 100_000   // traces one search may ask for
	maxPeerResponse  = 256 << 20 // one peer answer, read by the asking node
	// maxRecentSpans bounds the spans one span scan answers with (a node's
	// recent data: its heads and the blocks it wrote within the recent
	// window); past it the scan fails rather than grow without bound.
	maxRecentSpans = 4 << 20
)

// searchRequest is the body of POST {RecentPath}search.
type searchRequest struct {
	Predicate predicate.Predicate `json:"predicate"`
	Limit     int                 `json:"limit"`
}

// spansRequest is the body of POST {RecentPath}spans.
type spansRequest struct {
	Predicate predicate.Predicate `json:"predicate"`
}

// wireSpans are the spans of one of a node's recent sources (a block ID;
// "" for its heads), as OTLP protobuf.
type wireSpans struct {
	Block string `json:"block"`
	OTLP  []byte `json:"otlp"`
}

type wireMatch struct {
	TraceID string `json:"traceID"`
	Start   int64  `json:"start"`
}

// NewHandler serves RecentPath for the local store.
func NewHandler(nodeID string, src Recent, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, code int, err error) {
		if code >= 500 {
			log.Warn("peer request failed", "err", err)
		}
		failJSON(w, nil, code, err)
	}
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET "+RecentPath+"traces/{traceID}", func(w http.ResponseWriter, r *http.Request) {
		id, err := model.ParseTraceID(r.PathValue("traceID"))
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		spans, err := src.RecentTrace(r.Context(), id)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		body, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(model.ToTraces(spans))
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("POST "+RecentPath+"search", func(w http.ResponseWriter, r *http.Request) {
		var req searchRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSearchRequest))
		if err := dec.Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("search request: %w", err))
			return
		}
		if req.Limit <= 0 || req.Limit > maxSearchLimit {
			fail(w, http.StatusBadRequest, fmt.Errorf("limit must be 1..%d", maxSearchLimit))
			return
		}
		p, err := predicate.Compile(req.Predicate)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		matches, err := src.RecentFindTraces(r.Context(), p, req.Limit)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		out := make([]wireMatch, len(matches))
		for i, m := range matches {
			out[i] = wireMatch{TraceID: m.TraceID.String(), Start: m.Start}
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("POST "+RecentPath+"spans", func(w http.ResponseWriter, r *http.Request) {
		var req spansRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSearchRequest))
		if err := dec.Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("spans request: %w", err))
			return
		}
		p, err := predicate.Compile(req.Predicate)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		bySource := map[string][]model.Span{}
		var order []string
		total := 0
		err = src.RecentScanSpans(r.Context(), p, block.AllFields, func(source string, spans []model.Span, _ [][]int64) error {
			if total += len(spans); total > maxRecentSpans {
				return fmt.Errorf("more than %d recent spans match", maxRecentSpans)
			}
			if _, ok := bySource[source]; !ok {
				order = append(order, source)
			}
			bySource[source] = append(bySource[source], spans...)
			return nil
		})
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		out := make([]wireSpans, 0, len(order))
		for _, source := range order {
			body, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(model.ToTraces(bySource[source]))
			if err != nil {
				fail(w, http.StatusInternalServerError, err)
				return
			}
			out = append(out, wireSpans{Block: source, OTLP: body})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET "+RecentPath+"operations", func(w http.ResponseWriter, r *http.Request) {
		ops, err := src.RecentOperations(r.Context())
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, ops)
	})
	mux.HandleFunc("GET "+RecentPath+"dependencies", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
		to, err2 := strconv.ParseInt(r.URL.Query().Get("to"), 10, 64)
		if err1 != nil || err2 != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("from and to must be Unix nanoseconds"))
			return
		}
		src, err := src.RecentDependencies(r.Context(), time.Unix(0, from), time.Unix(0, to))
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, src)
	})
	mux.HandleFunc(RecentPath, func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, fmt.Errorf("no such peer endpoint: %s %s", r.Method, r.URL.Path))
	})
	guarded := recovery.Wrap(mux, log, failJSON)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(NodeHeader, nodeID)
		guarded.ServeHTTP(w, r)
	})
}

// failJSON answers in Clew's own error shape, {"error": "message"}.
func failJSON(w http.ResponseWriter, _ *http.Request, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// readBounded reads a peer's answer, failing past maxPeerResponse.
func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPeerResponse+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPeerResponse {
		return nil, fmt.Errorf("answer larger than %d bytes", maxPeerResponse)
	}
	return data, nil
}
