package jaeger

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// summaryQuerier summarises without handing out traces, as *query.Service
// does from the store's summary rows; it counts the traces it was asked to
// read, which must stay zero.
type summaryQuerier struct {
	*fakeQuerier
	searches int
}

func (s *summaryQuerier) FindSummaries(ctx context.Context, q query.TraceQuery) ([]query.TraceSummary, error) {
	s.searches++
	traces, err := s.fakeQuerier.FindTraces(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]query.TraceSummary, 0, len(traces))
	for _, t := range traces {
		out = append(out, query.Summarize(t))
	}
	return out, nil
}

// A Querier that summarises answers /api/v3/trace-summaries with exactly
// the body summarising whole traces gives (Jaeger's recorded answer), and
// its errors the same way.
func TestV3TraceSummariesFromSummaries(t *testing.T) {
	const v3Window = "query.start_time_min=2026-11-20T00:00:00Z&query.start_time_max=2026-11-22T00:00:00Z"
	sq := &summaryQuerier{fakeQuerier: &fakeQuerier{traces: [][]model.Span{hotrodSpans(t)}}}
	h := newHandler(sq, slog.New(slog.DiscardHandler), func() time.Time { return fixedNow })
	status, body := get(t, h,
		"/api/v3/trace-summaries?query.service_name=frontend&query.start_time_min=2026-11-20T00:00:00Z&query.start_time_max=2026-11-22T00:00:00Z")
	if status != http.StatusOK || sq.searches != 1 {
		t.Fatalf("status %d after %d summary searches: %s", status, sq.searches, body)
	}
	assertSameJSON(t, body, readFile(t, "testdata/hotrod-trace-summaries-v3.json"))

	for target, want := range map[string]string{
		"/api/v3/trace-summaries?query.service_name=nobody&" + v3Window: `{"summaries":[]}`,
		"/api/v3/trace-summaries?query.service_name=frontend":           `{"error":{"httpCode":400,"message":"query.start_time_min and query.start_time_max are required"}}`,
	} {
		if _, body := get(t, h, target); compact(t, body) != want {
			t.Errorf("%s:\n got %s\nwant %s", target, compact(t, body), want)
		}
	}
	sq.err = errors.New("disk on fire")
	if status, body := get(t, h, "/api/v3/trace-summaries?"+v3Window); status != http.StatusInternalServerError ||
		compact(t, body) != `{"error":{"httpCode":500,"message":"searching traces: disk on fire"}}` {
		t.Errorf("failed search: %d %s", status, body)
	}
}
