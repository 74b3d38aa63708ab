package jaeger

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/query/partial"
)

// partialQuerier answers like fakeQuerier and reports, as the store does
// for a damaged block, that the answer is partial.
type partialQuerier struct{ *fakeQuerier }

const damagedBlock = "block 01ABC could not be read; spans stored in it are missing from this answer"

func (p partialQuerier) FindTraces(ctx context.Context, q query.TraceQuery) ([][]model.Span, error) {
	partial.Add(ctx, damagedBlock)
	return p.fakeQuerier.FindTraces(ctx, q)
}

func (p partialQuerier) GetTrace(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	partial.Add(ctx, damagedBlock)
	return p.fakeQuerier.GetTrace(ctx, id)
}

// Issue 16, item 3: an answer from the healthy blocks is 200 (404 for a
// trace found nowhere), with each reason it is partial in Jaeger's errors
// array and in the Clew-Partial header; api_v3 carries the header.
func TestPartialAnswersAreMarked(t *testing.T) {
	spans := hotrodSpans(t)
	h := newHandler(partialQuerier{&fakeQuerier{traces: [][]model.Span{spans}}}, nil, func() time.Time { return fixedNow })
	serve := func(target string) *http.Response {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec.Result()
	}
	type legacy struct {
		Data   []json.RawMessage
		Errors []structuredError
	}
	decode := func(res *http.Response) legacy {
		var l legacy
		if err := json.NewDecoder(res.Body).Decode(&l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	wantErr := structuredError{Msg: "partial result: " + damagedBlock}

	res := serve("/api/traces?service=driver&limit=200")
	if l := decode(res); res.StatusCode != 200 || len(l.Data) != 1 || len(l.Errors) != 1 || l.Errors[0] != wantErr {
		t.Errorf("search: %d, %d traces, errors %+v; want 200, 1 trace, [%+v]", res.StatusCode, len(l.Data), l.Errors, wantErr)
	}
	if got := res.Header.Get(partial.Header); got != damagedBlock {
		t.Errorf("search %s header %q, want %q", partial.Header, got, damagedBlock)
	}

	res = serve("/api/traces/" + spans[0].TraceID.String())
	if l := decode(res); res.StatusCode != 200 || len(l.Data) != 1 || len(l.Errors) != 1 || l.Errors[0] != wantErr {
		t.Errorf("get trace: %d, %d traces, errors %+v", res.StatusCode, len(l.Data), l.Errors)
	}

	res = serve("/api/traces/00000000000000000000000000000042")
	l := decode(res)
	if res.StatusCode != 404 || len(l.Errors) != 2 || l.Errors[0].Code != 404 || l.Errors[1] != wantErr {
		t.Errorf("unknown trace: %d, errors %+v; want 404 with not-found and the partial reason", res.StatusCode, l.Errors)
	}

	res = serve("/api/v3/traces/" + spans[0].TraceID.String())
	if res.StatusCode != 200 || res.Header.Get(partial.Header) != damagedBlock {
		t.Errorf("api_v3 trace: %d, %s %q", res.StatusCode, partial.Header, res.Header.Get(partial.Header))
	}
}
