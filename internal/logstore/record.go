package logstore

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/model"
)

// Record is one stored log record. Attribute slices may be shared between
// records and with the store: treat them as read-only.
type Record struct {
	// Time is the record's timestamp, or its observed timestamp when the
	// client sent none (as the OTLP spec advises readers to do).
	Time           time.Time
	ObservedTime   time.Time // zero if unknown
	TraceID        model.TraceID
	SpanID         model.SpanID
	SeverityNumber int // OTLP SeverityNumber: 1–4 TRACE … 21–24 FATAL, 0 unspecified
	SeverityText   string
	// Body is the body as text: strings as they are, maps and arrays as
	// JSON, bytes as base64.
	Body               string
	ServiceName        string
	Attributes         []model.Attribute
	ResourceAttributes []model.Attribute
	ScopeName          string
	Flags              uint32
	EventName          string
}

// LogQuery selects records. Zero fields do not filter.
type LogQuery struct {
	TraceID     *model.TraceID
	SpanID      *model.SpanID
	Service     string
	MinSeverity int       // SeverityNumber >= MinSeverity (unspecified, 0, is below any minimum)
	Start, End  time.Time // inclusive bounds on Time
	// Attributes must all be present, on the record or its resource, with
	// Value.String() equal to the given text.
	Attributes map[string]string
	Contains   string // case-insensitive substring of Body
	Limit      int    // [DefaultLimit], at most MaxLimit
}

// Limits on LogQuery.Limit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// matcher is a LogQuery prepared for evaluation against many records.
type matcher struct {
	q        LogQuery
	contains string // lower case
	start    int64  // UnixNano bounds; 0 and maxInt64 when open
	end      int64
	limit    int
	asc      bool // oldest first: a trace's logs read top to bottom
}

func newMatcher(q LogQuery) *matcher {
	m := &matcher{q: q, contains: strings.ToLower(q.Contains), end: 1<<63 - 1, limit: q.Limit, asc: q.TraceID != nil}
	if !q.Start.IsZero() {
		m.start = q.Start.UnixNano()
	}
	if !q.End.IsZero() {
		m.end = q.End.UnixNano()
	}
	if m.limit <= 0 {
		m.limit = DefaultLimit
	}
	m.limit = min(m.limit, MaxLimit)
	return m
}

// overlaps reports whether records with times in [lo, hi] can match.
func (m *matcher) overlaps(lo, hi int64) bool { return hi >= m.start && lo <= m.end }

func (m *matcher) match(r *Record) bool {
	q := &m.q
	if q.TraceID != nil && r.TraceID != *q.TraceID {
		return false
	}
	if q.SpanID != nil && r.SpanID != *q.SpanID {
		return false
	}
	if q.Service != "" && r.ServiceName != q.Service {
		return false
	}
	if q.MinSeverity > 0 && r.SeverityNumber < q.MinSeverity {
		return false
	}
	if t := r.Time.UnixNano(); t < m.start || t > m.end {
		return false
	}
	for k, v := range q.Attributes {
		if !hasAttr(r.Attributes, k, v) && !hasAttr(r.ResourceAttributes, k, v) {
			return false
		}
	}
	if m.contains != "" && !strings.Contains(strings.ToLower(r.Body), m.contains) {
		return false
	}
	return true
}

func hasAttr(attrs []model.Attribute, key, val string) bool {
	for i := range attrs {
		if attrs[i].Key == key && attrs[i].Value.String() == val {
			return true
		}
	}
	return false
}

const serviceNameKey = "service.name"

// appendRecords converts a batch. Records without any timestamp must have
// been given an observed timestamp by the caller (see ConsumeLogs), so that
// a replayed record keeps the time it was first stored with.
func appendRecords(dst []Record, ld plog.Logs) []Record {
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		resAttrs := model.AttributesFromPdata(rl.Resource().Attributes())
		svc := model.UnknownService
		if v, ok := rl.Resource().Attributes().Get(serviceNameKey); ok && v.AsString() != "" {
			svc = v.AsString()
		}
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			scope := sl.Scope().Name()
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				lr := lrs.At(k)
				ts, obs := int64(lr.Timestamp()), int64(lr.ObservedTimestamp())
				if ts == 0 {
					ts = obs
				}
				r := Record{
					Time:               time.Unix(0, ts).UTC(),
					TraceID:            model.TraceID(lr.TraceID()),
					SpanID:             model.SpanID(lr.SpanID()),
					SeverityNumber:     int(lr.SeverityNumber()),
					SeverityText:       lr.SeverityText(),
					Body:               lr.Body().AsString(),
					ServiceName:        svc,
					Attributes:         model.AttributesFromPdata(lr.Attributes()),
					ResourceAttributes: resAttrs,
					ScopeName:          scope,
					Flags:              uint32(lr.Flags()),
					EventName:          lr.EventName(),
				}
				if obs != 0 {
					r.ObservedTime = time.Unix(0, obs).UTC()
				}
				dst = append(dst, r)
			}
		}
	}
	return dst
}

// approxSize estimates a record's memory, for backpressure.
func approxSize(r *Record) int64 {
	n := 200 + len(r.Body) + len(r.SeverityText)
	for _, a := range r.Attributes {
		n += 64 + len(a.Key) + len(a.Value.Str)
	}
	return int64(n)
}
