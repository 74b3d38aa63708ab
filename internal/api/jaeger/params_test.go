package jaeger

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/query"
)

func TestLegacySearchParams(t *testing.T) {
	defaultWindow := func(q query.TraceQuery) query.TraceQuery {
		if q.StartTimeMin.IsZero() {
			q.StartTimeMin = fixedNow.Add(-48 * time.Hour)
		}
		if q.StartTimeMax.IsZero() {
			q.StartTimeMax = fixedNow
		}
		if q.Limit == 0 {
			q.Limit = 100
		}
		q.MaxSpans = maxSearchSpans
		return q
	}
	tests := []struct {
		name    string
		params  string
		want    query.TraceQuery // window and limit defaults filled in by defaultWindow
		wantErr string           // substring of the 400 message
	}{
		{name: "service and operation", params: "service=frontend&operation=GET%20%2Fdispatch",
			want: query.TraceQuery{ServiceName: "frontend", OperationName: "GET /dispatch"}},
		{name: "no service searches everything", params: "lookback=1h", want: query.TraceQuery{}},
		{name: "start and end in microseconds", params: "service=a&start=1795297830739481&end=1795297831417066",
			want: query.TraceQuery{ServiceName: "a", StartTimeMin: time.UnixMicro(1795297830739481), StartTimeMax: time.UnixMicro(1795297831417066)}},
		{name: "start only keeps end now", params: "start=1795000000000000",
			want: query.TraceQuery{StartTimeMin: time.UnixMicro(1795000000000000)}},
		{name: "limit", params: "limit=7", want: query.TraceQuery{Limit: 7}},
		{name: "largest limit", params: "limit=1500", want: query.TraceQuery{Limit: 1500}},
		{name: "go durations", params: "minDuration=1.2s&maxDuration=2m",
			want: query.TraceQuery{DurationMin: 1200 * time.Millisecond, DurationMax: 2 * time.Minute}},
		{name: "microsecond durations", params: "minDuration=500us&maxDuration=1500",
			want: query.TraceQuery{DurationMin: 500 * time.Microsecond, DurationMax: 1500 * time.Microsecond}},
		{name: "repeated tag", params: "tag=error:true&tag=http.url:http://x:80/a",
			want: query.TraceQuery{Attributes: map[string]string{"error": "true", "http.url": "http://x:80/a"}}},
		{name: "tags JSON", params: `tags={"http.status_code":"500","db.system":"redis"}`,
			want: query.TraceQuery{Attributes: map[string]string{"http.status_code": "500", "db.system": "redis"}}},
		{name: "tags JSON with scalars", params: `tags={"http.status_code":500,"error":true,"ratio":0.5}`,
			want: query.TraceQuery{Attributes: map[string]string{"http.status_code": "500", "error": "true", "ratio": "0.5"}}},
		{name: "tags JSON wins over tag", params: `tag=a:1&tag=b:2&tags={"a":"3"}`,
			want: query.TraceQuery{Attributes: map[string]string{"a": "3", "b": "2"}}},
		{name: "empty tags", params: "tags=&service=a", want: query.TraceQuery{ServiceName: "a"}},

		{name: "bad start", params: "start=yesterday", wantErr: "unable to parse param 'start'"},
		{name: "bad end", params: "end=1.5", wantErr: "unable to parse param 'end'"},
		{name: "end before start", params: "start=2000&end=1000", wantErr: "'end' must not be before 'start'"},
		{name: "bad limit", params: "limit=ten", wantErr: "unable to parse param 'limit'"},
		{name: "negative limit", params: "limit=-1", wantErr: "unable to parse param 'limit'"},
		{name: "limit beyond int32", params: "limit=3000000000", wantErr: "unable to parse param 'limit'"},
		{name: "limit over the cap", params: "limit=1501", wantErr: "must be at most 1500"},
		{name: "huge limit", params: "limit=1000000", wantErr: "must be at most 1500"},
		{name: "bad duration", params: "minDuration=fast", wantErr: "unable to parse param 'minDuration'"},
		{name: "negative duration", params: "maxDuration=-1s", wantErr: "unable to parse param 'maxDuration'"},
		{name: "max below min", params: "minDuration=2s&maxDuration=1s", wantErr: "'maxDuration' should be greater than 'minDuration'"},
		{name: "tag without colon", params: "tag=error", wantErr: "malformed 'tag' parameter"},
		{name: "tags not JSON", params: "tags=error%3Dtrue", wantErr: "malformed 'tags' parameter"},
		{name: "tags JSON nested", params: `tags={"a":{"b":1}}`, wantErr: "malformed 'tags' parameter"},
		{name: "bad traceID", params: "traceID=zz", wantErr: "cannot parse traceID param"},
		{name: "bad query string", params: "service=%zz", wantErr: "malformed query string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeQuerier{}
			status, body := get(t, newTestHandler(f), "/api/traces?"+tt.params)
			if tt.wantErr != "" {
				var resp structuredResponse
				if err := json.Unmarshal(body, &resp); err != nil {
					t.Fatal(err)
				}
				if status != http.StatusBadRequest || resp.Data != nil || len(resp.Errors) != 1 ||
					resp.Errors[0].Code != 400 || !strings.Contains(resp.Errors[0].Msg, tt.wantErr) {
					t.Errorf("got %d %s, want 400 with error containing %q", status, body, tt.wantErr)
				}
				return
			}
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			want := defaultWindow(tt.want)
			if !reflect.DeepEqual(f.lastQuery, want) {
				t.Errorf("FindTraces got\n%+v\nwant\n%+v", f.lastQuery, want)
			}
		})
	}
}

func TestV3SearchParams(t *testing.T) {
	const window = "query.start_time_min=2026-11-20T00:00:00Z&query.start_time_max=2026-11-21T00:00:00.5Z"
	winMin := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	winMax := time.Date(2026, 11, 21, 0, 0, 0, 500_000_000, time.UTC)
	tests := []struct {
		name    string
		params  string
		want    query.TraceQuery // window filled in unless set
		wantErr string
	}{
		{name: "window only", params: window, want: query.TraceQuery{}},
		{name: "snake case", params: window + `&query.service_name=frontend&query.operation_name=HTTP+GET&query.duration_min=10ms&query.duration_max=1s&query.search_depth=20&query.attributes={"error":"true","http.status_code":503}`,
			want: query.TraceQuery{ServiceName: "frontend", OperationName: "HTTP GET", DurationMin: 10 * time.Millisecond, DurationMax: time.Second,
				Limit: 20, Attributes: map[string]string{"error": "true", "http.status_code": "503"}}},
		{name: "camel case", params: "query.startTimeMin=2026-11-20T00:00:00Z&query.startTimeMax=2026-11-21T00:00:00.5Z&query.serviceName=a&query.operationName=b&query.durationMin=1ms&query.searchDepth=5",
			want: query.TraceQuery{ServiceName: "a", OperationName: "b", DurationMin: time.Millisecond, Limit: 5}},
		{name: "num_traces alias", params: window + "&query.num_traces=3", want: query.TraceQuery{Limit: 3}},
		{name: "timezone offset", params: "query.start_time_min=2026-11-20T01:00:00%2B01:00&query.start_time_max=2026-11-21T00:00:00.5Z",
			want: query.TraceQuery{}},

		{name: "missing max", params: "query.start_time_min=2026-11-20T00:00:00Z", wantErr: "are required"},
		{name: "missing both", params: "query.service_name=a", wantErr: "are required"},
		{name: "unix micros are not RFC 3339", params: "query.start_time_min=1795297830739481&query.start_time_max=2026-11-21T00:00:00Z", wantErr: "malformed parameter query.start_time_min"},
		{name: "max before min", params: "query.start_time_min=2026-11-21T00:00:00Z&query.start_time_max=2026-11-20T00:00:00Z", wantErr: "must not be before"},
		{name: "bad duration", params: window + "&query.duration_min=10", wantErr: "malformed parameter query.duration_min"},
		{name: "duration max below min", params: window + "&query.duration_min=2s&query.duration_max=1s", wantErr: "must not be less than"},
		{name: "bad depth", params: window + "&query.search_depth=many", wantErr: "malformed parameter query.search_depth"},
		{name: "largest depth", params: window + "&query.search_depth=1500", want: query.TraceQuery{Limit: 1500}},
		{name: "depth over the cap", params: window + "&query.search_depth=1501", wantErr: "at most 1500"},
		{name: "huge depth", params: window + "&query.search_depth=1000000", wantErr: "at most 1500"},
		{name: "bad attributes", params: window + "&query.attributes=error", wantErr: "malformed parameter query.attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/v3/traces?", "/api/v3/trace-summaries?"} {
				f := &fakeQuerier{}
				status, body := get(t, newTestHandler(f), path+tt.params)
				if tt.wantErr != "" {
					var resp v3ErrorBody
					if err := json.Unmarshal(body, &resp); err != nil {
						t.Fatal(err)
					}
					if status != 400 || resp.Error.HTTPCode != 400 || !strings.Contains(resp.Error.Message, tt.wantErr) {
						t.Errorf("%s: got %d %s, want 400 with message containing %q", path, status, body, tt.wantErr)
					}
					continue
				}
				want := tt.want
				want.StartTimeMin, want.StartTimeMax = winMin, winMax
				want.MaxSpans = maxSearchSpans
				// Compare instants, not time.Location pointers.
				got := f.lastQuery
				if got.StartTimeMin.Equal(winMin) && got.StartTimeMax.Equal(winMax) {
					got.StartTimeMin, got.StartTimeMax = winMin, winMax
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: FindTraces got\n%+v\nwant\n%+v", path, f.lastQuery, want)
				}
			}
		})
	}
}
