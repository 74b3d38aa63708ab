package logstore

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/otlpwire/otlptest"
	"github.com/clewtrace/clew/internal/segment"
)

// richLogs is one record using every field, with a structured body and
// attribute values of every type.
func richLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "node-1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/acme/checkout")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
	lr.SetTraceID(pcommon.TraceID(traceID(7)))
	lr.SetSpanID(pcommon.SpanID(spanID(3)))
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	lr.SetEventName("payment.retry")
	lr.Body().SetEmptyMap().PutStr("msg", "card declined")
	a := lr.Attributes()
	a.PutStr("user", "u1")
	a.PutInt("attempt", 2)
	a.PutBool("final", false)
	a.PutDouble("amount", 9.5)
	a.PutEmptyBytes("raw").FromRaw([]byte{1, 2})
	a.PutEmptySlice("tags").AppendEmpty().SetStr("x")
	return ld
}

func TestConsumeThenSearchFromHeadAndBlock(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	s := openTest(t, t.TempDir(), clk, nil)
	if _, err := s.ConsumeLogs(ctx, richLogs()); err != nil {
		t.Fatal(err)
	}
	want := Record{
		Time: t0, ObservedTime: t0.Add(time.Second),
		TraceID: traceID(7), SpanID: spanID(3),
		SeverityNumber: 13, SeverityText: "WARN",
		Body:        `{"msg":"card declined"}`,
		ServiceName: "checkout",
		Attributes: []model.Attribute{
			{Key: "user", Value: model.StringValue("u1")},
			{Key: "attempt", Value: model.IntValue(2)},
			{Key: "final", Value: model.BoolValue(false)},
			{Key: "amount", Value: model.DoubleValue(9.5)},
			{Key: "raw", Value: model.Value{Type: model.ValueBytes, Str: "\x01\x02"}},
			{Key: "tags", Value: model.Value{Type: model.ValueArray, Str: `["x"]`}},
		},
		ResourceAttributes: []model.Attribute{
			{Key: "service.name", Value: model.StringValue("checkout")},
			{Key: "host.name", Value: model.StringValue("node-1")},
		},
		ScopeName: "github.com/acme/checkout",
		Flags:     1,
		EventName: "payment.retry",
	}
	check := func(where string) {
		t.Helper()
		got, err := s.Search(ctx, LogQuery{TraceID: ptr(traceID(7))})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("%s: got %+v\nwant %+v", where, got, want)
		}
	}
	check("head")
	if err := s.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.core.HeadSize(); n != 0 || len(s.core.BlockMetas()) != 1 {
		t.Fatalf("after Maintain: head %d records, %d blocks; want 0, 1", n, len(s.core.BlockMetas()))
	}
	check("block")
}

func TestRecordWithoutTimestampsGetsIngestTime(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	dir := t.TempDir()
	s := openTest(t, dir, clk, nil)
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("no time")
	if _, err := s.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	_ = s.core.WAL().Close() // crash
	clk.Advance(time.Hour)
	s2 := openTest(t, dir, clk, nil)
	got, err := s2.Search(ctx, LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Time.Equal(t0) || !got[0].ObservedTime.Equal(t0) || got[0].ServiceName != model.UnknownService {
		t.Fatalf("got %+v, want time and observed time %v, unknown service", got, t0)
	}
}

func TestReplayAfterCrash(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	dir := t.TempDir()
	s := openTest(t, dir, clk, nil)
	consume(t, s, spec{at: 1 * time.Second, trace: 1, svc: "a", body: "in block"})
	if err := s.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	consume(t, s, spec{at: 2 * time.Second, trace: 1, svc: "a", body: "in wal 1"},
		spec{at: 3 * time.Second, trace: 1, svc: "a", body: "in wal 2"})
	// Simulate a crash: the WAL file handles go away, nothing is flushed.
	if err := s.core.WAL().Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTest(t, dir, clk, nil)
	got, err := s2.Search(ctx, LogQuery{TraceID: ptr(traceID(1))})
	if err != nil {
		t.Fatal(err)
	}
	// Exactly once each: the flushed record's WAL segment was truncated.
	if want := []string{"in block", "in wal 1", "in wal 2"}; !slices.Equal(bodies(got), want) {
		t.Fatalf("after restart: %q, want %q", bodies(got), want)
	}
	if n, _ := s2.core.HeadSize(); n != 2 {
		t.Fatalf("replayed %d records into the head, want 2", n)
	}
}

func TestCloseFlushesAndReopens(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	dir := t.TempDir()
	s := openTest(t, dir, clk, nil)
	consume(t, s, spec{trace: 2, body: "x"})
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s2 := openTest(t, dir, clk, nil)
	if n, _ := s2.core.HeadSize(); n != 0 || len(s2.core.BlockMetas()) != 1 {
		t.Fatalf("reopened: head %d, blocks %d; want 0, 1", n, len(s2.core.BlockMetas()))
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	s := openTest(t, t.TempDir(), clk, func(o *Options) { o.Retention = 24 * time.Hour })
	consume(t, s, spec{at: 0, trace: 1, body: "old"})
	if err := s.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	// Written 12 hours later: a block's records count as no newer than
	// its creation plus segment.FutureSkew.
	clk.Advance(12 * time.Hour)
	consume(t, s, spec{at: 12 * time.Hour, trace: 1, body: "new"})
	if err := s.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		advance time.Duration
		want    []string
	}{
		{advance: 12 * time.Hour, want: []string{"new", "old"}},          // old block's newest record is exactly at the horizon
		{advance: time.Nanosecond, want: []string{"new"}},                // now past it
		{advance: 12*time.Hour - time.Nanosecond, want: []string{"new"}}, // new block at the horizon
		{advance: time.Nanosecond, want: []string{}},                     // both gone
	}
	for i, tt := range tests {
		clk.Advance(tt.advance)
		if err := s.Maintain(ctx, false); err != nil {
			t.Fatal(err)
		}
		got, err := s.Search(ctx, LogQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(bodies(got), tt.want) {
			t.Errorf("step %d (now %v): %q, want %q", i, clk.Now(), bodies(got), tt.want)
		}
	}
	l, err := segment.List(ctx, s.core.Bucket())
	if err != nil || len(l.Complete)+len(l.Incomplete) != 0 {
		t.Fatalf("blocks left in the bucket: %+v, %v", l, err)
	}
}

func TestCutByCountAndAge(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		records int
		advance time.Duration
		blocks  int
	}{
		{"not due", 2, time.Minute, 0},
		{"count reached", 3, 0, 1},
		{"age reached", 1, 5 * time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: t0}
			s := openTest(t, t.TempDir(), clk, func(o *Options) { o.BlockMaxRecords = 3; o.BlockMaxAge = 5 * time.Minute })
			for range tt.records {
				consume(t, s, spec{body: "x"})
			}
			clk.Advance(tt.advance)
			if err := s.Maintain(ctx, false); err != nil {
				t.Fatal(err)
			}
			if len(s.core.BlockMetas()) != tt.blocks {
				t.Fatalf("%d blocks, want %d", len(s.core.BlockMetas()), tt.blocks)
			}
		})
	}
}

func TestOverloaded(t *testing.T) {
	clk := &clock{t: t0}
	// A head is cut at a third of MaxHeadBytes; the Maintain that would
	// write the cut heads as blocks never runs.
	s := openTest(t, t.TempDir(), clk, func(o *Options) { o.MaxHeadBytes = 4 << 10 })
	for range 100 {
		if _, err := s.ConsumeLogs(context.Background(), makeLogs(t, spec{body: strings.Repeat("x", 100)})); err != nil {
			break
		}
	}
	_, err := s.ConsumeLogs(context.Background(), makeLogs(t, spec{body: "y"}))
	if !errors.Is(err, consumer.ErrOverloaded) {
		t.Fatalf("err %v, want ErrOverloaded", err)
	}
}

func TestCountByTrace(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	s := openTest(t, t.TempDir(), clk, nil)
	consume(t, s, spec{trace: 1}, spec{trace: 1}, spec{trace: 2}, spec{})
	if err := s.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	consume(t, s, spec{trace: 1}, spec{trace: 3}, spec{})
	got, err := s.CountByTrace(ctx, []model.TraceID{traceID(1), traceID(2), traceID(3), traceID(4), {}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[model.TraceID]int{traceID(1): 3, traceID(2): 1, traceID(3): 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestReplaySkipsDeeplyNestedRecord: a WAL record whose log body nests a
// million levels is skipped at replay (converting it would overflow the
// stack); the records around it are kept.
func TestReplaySkipsDeeplyNestedRecord(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	dir := t.TempDir()
	s := openTest(t, dir, clk, nil)
	consume(t, s, spec{at: time.Second, trace: 1, svc: "a", body: "before"})
	deep := append([]byte{recordLogs}, otlptest.LogsProto(1_000_000, otlptest.Array)...)
	if _, err := s.core.WAL().Append(ctx, deep); err != nil {
		t.Fatal(err)
	}
	consume(t, s, spec{at: 2 * time.Second, trace: 1, svc: "a", body: "after"})
	if err := s.core.WAL().Close(); err != nil { // crash
		t.Fatal(err)
	}

	s2 := openTest(t, dir, clk, nil)
	got, err := s2.Search(ctx, LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"after", "before"}; !slices.Equal(bodies(got), want) && !slices.Equal(bodies(got), []string{"before", "after"}) {
		t.Fatalf("after replay: %q, want only %q", bodies(got), want)
	}
}
