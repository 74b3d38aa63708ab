package errgroups

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/model"
)

// Attribute keys read for users, sessions and releases.
var (
	userKeys    = []string{"enduser.id", "user.id"}
	sessionKeys = []string{"session.id"}
)

// minErrorSeverity is OTLP's SeverityNumber for ERROR.
const minErrorSeverity = 17

// Tap records every failing span of a batch into a Store and passes the
// batch on to next unchanged. Place it before tail sampling.
type Tap struct {
	store *Store
	next  consumer.Traces
}

var _ consumer.Traces = (*Tap)(nil)

// NewTap returns a Tap that records into s and forwards to next.
func NewTap(s *Store, next consumer.Traces) *Tap { return &Tap{store: s, next: next} }

// ConsumeTraces extracts the occurrences (the batch belongs to next once
// handed on), forwards the batch, then records them — unless next answered
// ErrOverloaded: the client retries and they are counted then.
func (t *Tap) ConsumeTraces(ctx context.Context, td ptrace.Traces) (consumer.Result, error) {
	occs, ids := spanOccurrences(td)
	res, err := t.next.ConsumeTraces(ctx, td)
	if (len(occs) > 0 || len(ids) > 0) && (err == nil || !errors.Is(err, consumer.ErrOverloaded)) {
		t.store.record(occs, nil, nil, ids)
	}
	return res, err
}

// LogTap records error logs with a trace ID into a Store and passes the
// batch on to next unchanged.
type LogTap struct {
	store *Store
	next  consumer.Logs
}

var _ consumer.Logs = (*LogTap)(nil)

// NewLogTap returns a LogTap that records into s and forwards to next.
func NewLogTap(s *Store, next consumer.Logs) *LogTap { return &LogTap{store: s, next: next} }

// ConsumeLogs works like Tap.ConsumeTraces.
func (t *LogTap) ConsumeLogs(ctx context.Context, ld plog.Logs) (consumer.Result, error) {
	logs, keys := logOccurrences(ld)
	res, err := t.next.ConsumeLogs(ctx, ld)
	if len(logs) > 0 && (err == nil || !errors.Is(err, consumer.ErrOverloaded)) {
		t.store.record(nil, logs, keys, nil)
	}
	return res, err
}

// ident is who a trace belongs to, as one of its spans says.
type ident struct{ trace, user, session string }

// spanOccurrences returns the batch's occurrences and the users and
// sessions its spans name: the user is usually on the entry span only
// (and the session on every span, as baggage), while errors happen further
// down, so the Store attributes users per trace and per session.
func spanOccurrences(td ptrace.Traces) ([]obs, []ident) {
	var out []obs
	var ids []ident
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		service := model.UnknownService
		if v, ok := res.Get("service.name"); ok && v.Str() != "" {
			service = v.Str()
		}
		release := str(res, "service.version")
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				attrs := s.Attributes()
				user, session := first(attrs, res, userKeys), first(attrs, res, sessionKeys)
				if user != "" || session != "" {
					tr := model.TraceID(s.TraceID()).String()
					if n := len(ids); n == 0 || ids[n-1] != (ident{tr, user, session}) {
						ids = append(ids, ident{tr, user, session})
					}
				}
				occ, ok := fromPdataSpan(s, service)
				if !ok {
					continue
				}
				id, info := fingerprint(occ)
				out = append(out, obs{
					id: id, info: info, release: release,
					ex: Example{
						TraceID: model.TraceID(s.TraceID()).String(),
						SpanID:  model.SpanID(s.SpanID()).String(),
						Time:    int64(s.StartTimestamp()),
						User:    user,
						Session: session,
					},
				})
			}
		}
	}
	return out, ids
}

// fromPdataSpan is SpanOccurrence for an OTLP span.
func fromPdataSpan(s ptrace.Span, service string) (Occurrence, bool) {
	o := Occurrence{Service: service, Operation: s.Name()}
	evs := s.Events()
	found := false
	for i := evs.Len() - 1; i >= 0; i-- { // the last exception ended the span
		if e := evs.At(i); e.Name() == "exception" {
			a := e.Attributes()
			o.Type, o.Message, o.Stacktrace = str(a, "exception.type"), str(a, "exception.message"), str(a, "exception.stacktrace")
			found = true
			break
		}
	}
	if found {
		return o, true
	}
	failed := s.Status().Code() == ptrace.StatusCodeError
	if !failed {
		if v, ok := s.Attributes().Get("error"); ok {
			failed = (v.Type() == pcommon.ValueTypeBool && v.Bool()) || (v.Type() == pcommon.ValueTypeStr && v.Str() == "true")
		}
	}
	if !failed || s.Kind() == ptrace.SpanKindClient || s.Kind() == ptrace.SpanKindProducer {
		return o, false
	}
	o.Type = str(s.Attributes(), "error.type")
	o.Message = s.Status().Message()
	return o, true
}

// SpanOccurrence is the occurrence a stored span stands for, with the same
// rules as at ingest; ok is false for a span that is not one.
func SpanOccurrence(s *model.Span) (Occurrence, bool) {
	o := Occurrence{Service: s.Service(), Operation: s.Name}
	for i := len(s.Events) - 1; i >= 0; i-- {
		if e := &s.Events[i]; e.Name == "exception" {
			o.Type = mstr(e.Attributes, "exception.type")
			o.Message = mstr(e.Attributes, "exception.message")
			o.Stacktrace = mstr(e.Attributes, "exception.stacktrace")
			return o, true
		}
	}
	if !s.IsError() || s.Kind == model.KindClient || s.Kind == model.KindProducer {
		return o, false
	}
	o.Type = mstr(s.Attributes, "error.type")
	o.Message = s.StatusMessage
	return o, true
}

func mstr(attrs []model.Attribute, key string) string {
	if v, ok := model.Lookup(attrs, key); ok {
		return v.String()
	}
	return ""
}

func logOccurrences(ld plog.Logs) ([]obs, []spanKey) {
	var out []obs
	var keys []spanKey
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		service := model.UnknownService
		if v, ok := res.Get("service.name"); ok && v.Str() != "" {
			service = v.Str()
		}
		release := str(res, "service.version")
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				r := recs.At(k)
				if int(r.SeverityNumber()) < minErrorSeverity || r.TraceID().IsEmpty() {
					continue
				}
				a := r.Attributes()
				occ := Occurrence{Type: str(a, "exception.type"), Message: str(a, "exception.message"), Stacktrace: str(a, "exception.stacktrace"), Service: service}
				if occ.Type == "" {
					occ.Type = "log"
				}
				if occ.Message == "" {
					occ.Message = r.Body().AsString()
				}
				ex := Example{
					TraceID: model.TraceID(r.TraceID()).String(),
					Time:    int64(r.Timestamp()),
					User:    first(a, res, userKeys),
					Session: first(a, res, sessionKeys),
				}
				if ex.Time == 0 {
					ex.Time = int64(r.ObservedTimestamp())
				}
				key := spanKey{trace: ex.TraceID}
				if !r.SpanID().IsEmpty() {
					ex.SpanID = model.SpanID(r.SpanID()).String()
					key.span = ex.SpanID
				}
				id, info := fingerprint(occ)
				out = append(out, obs{id: id, info: info, release: release, ex: ex})
				keys = append(keys, key)
			}
		}
	}
	return out, keys
}

func str(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return v.AsString()
	}
	return ""
}

// first returns the first of keys set on the span (or record), then on
// the resource.
func first(attrs, res pcommon.Map, keys []string) string {
	for _, m := range []pcommon.Map{attrs, res} {
		for _, k := range keys {
			if s := str(m, k); s != "" {
				return s
			}
		}
	}
	return ""
}
