package traceql

import (
	"encoding/binary"
	"math/rand"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

var (
	genServices = []string{"gateway", "cart", "db", "payment"}
	genNames    = []string{"GET /cart", "POST /pay", "SELECT", "charge", "auth"}
	genMethods  = []string{"GET", "POST", "DELETE"}
	genBase     = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixNano()
)

// genTraces builds n random traces: trees of 1..12 spans across services,
// with attributes of every type, events, links and scopes.
func genTraces(seed int64, n int) [][]model.Span {
	r := rand.New(rand.NewSource(seed))
	resources := make([]*model.Resource, len(genServices))
	for i, svc := range genServices {
		env := "prod"
		if i%2 == 1 {
			env = "staging"
		}
		resources[i] = &model.Resource{ServiceName: svc, Attributes: []model.Attribute{
			{Key: "service.name", Value: model.StringValue(svc)},
			{Key: "deployment.environment", Value: model.StringValue(env)},
		}}
	}
	scopes := []*model.Scope{{Name: "net/http", Version: "1.0"}, {Name: "database/sql", Version: "2.1",
		Attributes: []model.Attribute{{Key: "lib.lang", Value: model.StringValue("go")}}}}
	var traces [][]model.Span
	for t := 0; t < n; t++ {
		var tid model.TraceID
		binary.BigEndian.PutUint64(tid[8:], uint64(t+1))
		tid[0] = byte(seed)
		count := 1 + r.Intn(12)
		start := genBase + int64(r.Intn(3600))*int64(time.Second)
		spans := make([]model.Span, count)
		for i := range spans {
			s := &spans[i]
			s.TraceID = tid
			binary.BigEndian.PutUint64(s.SpanID[:], uint64(t*100+i+1))
			if i > 0 {
				p := r.Intn(i)
				s.ParentSpanID = spans[p].SpanID
			}
			s.Name = genNames[r.Intn(len(genNames))]
			s.Kind = model.SpanKind(r.Intn(6))
			s.StatusCode = model.StatusCode(r.Intn(3))
			if s.StatusCode == model.StatusError {
				s.StatusMessage = "boom"
			}
			s.StartUnixNano = start + int64(r.Intn(1000))*int64(time.Millisecond)
			s.EndUnixNano = s.StartUnixNano + int64(r.Intn(2000))*int64(time.Millisecond)
			s.Resource = resources[r.Intn(len(resources))]
			s.Scope = scopes[r.Intn(len(scopes))]
			if r.Intn(4) > 0 {
				s.Attributes = append(s.Attributes, model.Attribute{Key: "http.status_code", Value: model.IntValue(int64([]int{200, 201, 404, 500, 503}[r.Intn(5)]))})
			}
			if r.Intn(3) > 0 {
				s.Attributes = append(s.Attributes, model.Attribute{Key: "http.method", Value: model.StringValue(genMethods[r.Intn(3)])})
			}
			if r.Intn(3) == 0 {
				s.Attributes = append(s.Attributes, model.Attribute{Key: "retry", Value: model.BoolValue(r.Intn(2) == 0)})
			}
			if r.Intn(3) == 0 {
				s.Attributes = append(s.Attributes, model.Attribute{Key: "ratio", Value: model.DoubleValue(float64(r.Intn(100)) / 10)})
			}
			if r.Intn(8) == 0 {
				// Same key as a resource attribute: the span's wins when unscoped.
				s.Attributes = append(s.Attributes, model.Attribute{Key: "deployment.environment", Value: model.StringValue("canary")})
			}
			for e := r.Intn(3); e > 0; e-- {
				ev := model.Event{TimeUnixNano: s.StartUnixNano + int64(r.Intn(5))*int64(time.Millisecond), Name: []string{"exception", "retry", "log"}[r.Intn(3)]}
				if ev.Name == "exception" {
					ev.Attributes = []model.Attribute{{Key: "exception.type", Value: model.StringValue([]string{"IOError", "Timeout"}[r.Intn(2)])}}
				}
				s.Events = append(s.Events, ev)
			}
			if r.Intn(5) == 0 {
				var lt model.TraceID
				lt[15] = byte(r.Intn(3))
				s.Links = append(s.Links, model.Link{TraceID: lt, Attributes: []model.Attribute{{Key: "link.kind", Value: model.StringValue("follows")}}})
			}
		}
		traces = append(traces, spans)
	}
	return traces
}
