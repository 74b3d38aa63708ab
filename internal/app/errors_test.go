package app

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gopkg.in/yaml.v3"

	"github.com/clewtrace/clew/internal/api/errorsapi"
	"github.com/clewtrace/clew/internal/config"
)

// TestErrorGroupsCountBeforeSampling sends failing requests through a Clew
// whose tail sampling keeps 5 % of traces: the error groups still count
// every one, and the counts survive a restart.
func TestErrorGroupsCountBeforeSampling(t *testing.T) {
	dir := t.TempDir()
	sampled := func(c *config.Config) {
		const pipe = `
tail_sampling:
  enabled: true
  decision_wait: 200ms
  policies:
    - name: baseline
      type: probabilistic
      probabilistic: {sampling_percentage: 5}
`
		if err := yaml.Unmarshal([]byte(pipe), &c.Pipeline); err != nil {
			t.Fatal(err)
		}
	}
	a := startApp(t, dir, sampled)
	tracer := provider(t, "orders", httpExporter(t, a.Addrs().OTLPHTTP)).Tracer("errors-test")
	const n = 40
	users := []string{"alice", "bob", "carol", "dave"}
	for i := range n {
		_, span := tracer.Start(context.Background(), "POST /orders", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("enduser.id", users[i%len(users)])))
		if i%2 == 0 {
			span.RecordError(fmt.Errorf("payment %d for order %d declined", 1000+i, 77+i))
		} else {
			span.RecordError(&timeoutError{fmt.Sprintf("partner timed out after %dms", 3000+i)})
		}
		span.SetStatus(codes.Error, "failed")
		span.End()
	}
	base := "http://" + a.Addrs().Query + errorsapi.Path
	want := func(base string) map[string]errorsapi.GroupJSON {
		t.Helper()
		var got map[string]errorsapi.GroupJSON
		deadline := time.Now().Add(60 * time.Second)
		for {
			var list errorsapi.ListResponse
			getJSON(t, base+"?"+url.Values{"service": {"orders"}}.Encode(), 200, &list)
			got = map[string]errorsapi.GroupJSON{}
			for _, g := range list.Groups {
				got[g.Type] = g
			}
			if got["*errors.errorString"].Count == n/2 && got["*app.timeoutError"].Count == n/2 && len(list.Groups) == 2 {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("groups %+v, want two of %d occurrences each", list.Groups, n/2)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := want(base)
	pay := got["*errors.errorString"]
	if pay.Pattern != "payment <n> for order <n> declined" || pay.Users != 2 || pay.Operation != "POST /orders" {
		t.Errorf("payment group %+v", pay)
	}
	// Sampling kept few of the traces; the group's traces say which.
	var traces errorsapi.TracesResponse
	getJSON(t, base+"/"+pay.ID+"/traces", 200, &traces)
	if len(traces.Traces) == 0 {
		t.Fatal("no example traces")
	}
	stored := 0
	for _, tr := range traces.Traces {
		if tr.Stored {
			stored++
		}
	}
	if stored == len(traces.Traces) && len(traces.Traces) >= 10 {
		t.Errorf("all %d example traces stored with 5%% sampling", stored)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b := startApp(t, dir, sampled)
	after := want("http://" + b.Addrs().Query + errorsapi.Path)
	if after["*errors.errorString"].ID != pay.ID {
		t.Errorf("group ID changed across restart: %s → %s", pay.ID, after["*errors.errorString"].ID)
	}
	getJSON(t, "http://"+b.Addrs().Query+errorsapi.Path+"?start=not-a-time", 400, nil)
	getJSON(t, "http://"+b.Addrs().Query+errorsapi.Path+"/0000000000000000", 404, nil)
}

type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }
