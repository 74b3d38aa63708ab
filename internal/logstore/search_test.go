package logstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// corpus is the data of the search table; bodies name the records.
var corpus = []spec{
	{at: 1 * time.Second, trace: 1, span: 1, svc: "api", sev: 9, body: "r1 request started", attrs: map[string]any{"http.route": "/orders"}},
	{at: 2 * time.Second, trace: 1, span: 2, svc: "db", sev: 5, body: "r2 Query Took 5ms", attrs: map[string]any{"rows": 3}},
	{at: 3 * time.Second, trace: 2, span: 3, svc: "api", sev: 17, body: "r3 upstream ERROR", attrs: map[string]any{"retry": true}, res: map[string]any{"region": "eu"}},
	{at: 4 * time.Second, trace: 1, span: 1, svc: "api", sev: 13, body: "r4 slow request", res: map[string]any{"region": "us"}},
	{at: 5 * time.Second, svc: "worker", sev: 21, body: "r5 fatal: out of memory", attrs: map[string]any{"region": "eu"}},
	{at: 6 * time.Second, trace: 3, span: 9, svc: "db", sev: 0, body: "r6 unspecified severity"},
}

func TestSearchSemantics(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		q    LogQuery
		want []string // body prefixes, in order
	}{
		{"all, newest first", LogQuery{}, []string{"r6", "r5", "r4", "r3", "r2", "r1"}},
		{"trace, oldest first", LogQuery{TraceID: ptr(traceID(1))}, []string{"r1", "r2", "r4"}},
		{"unknown trace", LogQuery{TraceID: ptr(traceID(99))}, nil},
		{"trace and span", LogQuery{TraceID: ptr(traceID(1)), SpanID: ptr(spanID(1))}, []string{"r1", "r4"}},
		{"span alone", LogQuery{SpanID: ptr(spanID(3))}, []string{"r3"}},
		{"service", LogQuery{Service: "api"}, []string{"r4", "r3", "r1"}},
		{"unknown service", LogQuery{Service: "nope"}, nil},
		{"min severity WARN", LogQuery{MinSeverity: 13}, []string{"r5", "r4", "r3"}},
		{"min severity TRACE excludes unspecified", LogQuery{MinSeverity: 1}, []string{"r5", "r4", "r3", "r2", "r1"}},
		{"start inclusive", LogQuery{Start: t0.Add(5 * time.Second)}, []string{"r6", "r5"}},
		{"end inclusive", LogQuery{End: t0.Add(2 * time.Second)}, []string{"r2", "r1"}},
		{"time window", LogQuery{Start: t0.Add(2 * time.Second), End: t0.Add(3 * time.Second)}, []string{"r3", "r2"}},
		{"window before all", LogQuery{End: t0}, nil},
		{"record attribute", LogQuery{Attributes: map[string]string{"http.route": "/orders"}}, []string{"r1"}},
		{"int attribute as text", LogQuery{Attributes: map[string]string{"rows": "3"}}, []string{"r2"}},
		{"bool attribute as text", LogQuery{Attributes: map[string]string{"retry": "true"}}, []string{"r3"}},
		{"record or resource attribute", LogQuery{Attributes: map[string]string{"region": "eu"}}, []string{"r5", "r3"}},
		{"resource service.name", LogQuery{Attributes: map[string]string{"service.name": "db"}}, []string{"r6", "r2"}},
		{"all attributes must match", LogQuery{Attributes: map[string]string{"region": "eu", "retry": "true"}}, []string{"r3"}},
		{"attribute value mismatch", LogQuery{Attributes: map[string]string{"rows": "4"}}, nil},
		{"contains, case-insensitive", LogQuery{Contains: "error"}, []string{"r3"}},
		{"contains, upper query", LogQuery{Contains: "QUERY TOOK"}, []string{"r2"}},
		{"contains and service", LogQuery{Contains: "request", Service: "api"}, []string{"r4", "r1"}},
		{"limit keeps newest", LogQuery{Limit: 2}, []string{"r6", "r5"}},
		{"limit on trace keeps oldest", LogQuery{TraceID: ptr(traceID(1)), Limit: 2}, []string{"r1", "r2"}},
		{"limit above max is clipped", LogQuery{Limit: 5000}, []string{"r6", "r5", "r4", "r3", "r2", "r1"}},
	}
	layouts := []struct {
		name  string
		build func(t *testing.T, s *Store)
	}{
		{"head", func(t *testing.T, s *Store) { consume(t, s, corpus...) }},
		{"block", func(t *testing.T, s *Store) {
			consume(t, s, corpus...)
			if err := s.Maintain(ctx, true); err != nil {
				t.Fatal(err)
			}
		}},
		{"mixed", func(t *testing.T, s *Store) {
			// Interleaved in time across two blocks and the head, so the
			// merge and the block-skipping cut-off are exercised.
			for i, part := range [][]spec{{corpus[0], corpus[3]}, {corpus[1], corpus[5]}, {corpus[2], corpus[4]}} {
				consume(t, s, part...)
				if i < 2 {
					if err := s.Maintain(ctx, true); err != nil {
						t.Fatal(err)
					}
				}
			}
		}},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			s := openTest(t, t.TempDir(), &clock{t: t0}, nil)
			l.build(t, s)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := s.Search(ctx, tt.q)
					if err != nil {
						t.Fatal(err)
					}
					names := make([]string, len(got))
					for i, r := range got {
						names[i] = r.Body[:2]
					}
					if !slices.Equal(names, tt.want) && !(len(names) == 0 && len(tt.want) == 0) {
						t.Errorf("got %v, want %v", names, tt.want)
					}
				})
			}
		})
	}
}

// TestSearchManyBlocks checks the limit across many blocks and row groups:
// the newest records come back whatever block they are in.
func TestSearchManyBlocks(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), &clock{t: t0}, nil)
	const perBlock = rowGroupRows + 100 // two row groups per block
	for b := range 3 {
		specs := make([]spec, perBlock)
		for i := range specs {
			n := b*perBlock + i
			specs[i] = spec{at: time.Duration(n) * time.Millisecond, trace: byte(n%7 + 1), svc: "s", body: fmt.Sprint(n)}
		}
		consume(t, s, specs...)
		if err := s.Maintain(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Search(ctx, LogQuery{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	last := 3*perBlock - 1
	if want := []string{fmt.Sprint(last), fmt.Sprint(last - 1), fmt.Sprint(last - 2)}; !slices.Equal(bodies(got), want) {
		t.Fatalf("newest: %q, want %q", bodies(got), want)
	}
	// A window inside the first block's second row group.
	got, err = s.Search(ctx, LogQuery{Start: t0.Add(rowGroupRows * time.Millisecond), End: t0.Add((rowGroupRows + 1) * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{fmt.Sprint(rowGroupRows + 1), fmt.Sprint(rowGroupRows)}; !slices.Equal(bodies(got), want) {
		t.Fatalf("window: %q, want %q", bodies(got), want)
	}
	counts, err := s.CountByTrace(ctx, []model.TraceID{traceID(1)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (3*perBlock + 6) / 7; counts[traceID(1)] != want {
		t.Fatalf("count %d, want %d", counts[traceID(1)], want)
	}
}
