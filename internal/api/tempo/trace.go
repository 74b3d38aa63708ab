package tempo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// wantsProtobuf reports whether the Accept header asks for protobuf.
func wantsProtobuf(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/protobuf" || mt == "application/x-protobuf") {
			return true
		}
	}
	return false
}

// traceByID serves /api/traces/{id} (version 1: Tempo's Trace message, in
// JSON {"batches": [...]}) and /api/v2/traces/{id} (TraceByIDResponse,
// {"trace": {"resourceSpans": [...]}}). Protobuf when Accept asks for it.
// Trace IDs shorter than 32 hex digits are left-padded with zeros, as Tempo
// does.
func (h *handler) traceByID(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw := r.PathValue("traceID")
		if len(raw) < 32 && len(raw) > 0 {
			raw = strings.Repeat("0", 32-len(raw)) + raw
		}
		id, err := model.ParseTraceID(raw)
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, fmt.Errorf("invalid trace ID %q: want up to 32 hex digits", r.PathValue("traceID")))
			return
		}
		spans, err := h.q.GetTrace(r.Context(), id)
		if errors.Is(err, query.ErrNotFound) {
			h.fail(w, r, http.StatusNotFound, errors.New("trace not found"))
			return
		}
		if err != nil {
			h.failQuery(w, r, err)
			return
		}
		td := model.ToTraces(spans)
		if wantsProtobuf(r) {
			// Tempo's Trace message has the field layout of OTLP's
			// TracesData: resource spans in field 1.
			pb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
			if err != nil {
				h.failQuery(w, r, err)
				return
			}
			if version == 2 { // TraceByIDResponse { Trace trace = 1; ... }
				pb = append(appendTag(nil, 1, len(pb)), pb...)
			}
			w.Header().Set("Content-Type", "application/protobuf")
			_, _ = w.Write(pb)
			return
		}
		js, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		if err != nil {
			h.failQuery(w, r, err)
			return
		}
		var out []byte
		if version == 1 {
			out = renameTopKey(js, "resourceSpans", "batches")
		} else {
			out = append(append([]byte(`{"trace":`), js...), '}')
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	}
}

// appendTag appends a protobuf length-delimited field header.
func appendTag(b []byte, field, n int) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3|2))
	return binary.AppendUvarint(b, uint64(n))
}

// renameTopKey renames the first key of a JSON object written by pdata's
// marshaler ({"resourceSpans":...}).
func renameTopKey(js []byte, from, to string) []byte {
	prefix := []byte(`{"` + from + `":`)
	if !bytes.HasPrefix(js, prefix) {
		if bytes.Equal(bytes.TrimSpace(js), []byte("{}")) {
			return []byte(`{"` + to + `":[]}`)
		}
		return js
	}
	return append([]byte(`{"`+to+`":`), js[len(prefix):]...)
}
