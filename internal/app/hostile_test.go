package app

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/clewtrace/clew/internal/otlpwire/otlptest"
)

// rawCodec sends pre-encoded protobuf bytes as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func grpcExport(t *testing.T, addr, method string, msg []byte) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var out []byte
	return cc.Invoke(t.Context(), method, &msg, &out, grpc.ForceCodec(rawCodec{}))
}

const (
	grpcTraces = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	grpcLogs   = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
)

// TestDeepNestingDoesNotKillClew sends attribute values and log bodies nested
// a million levels deep, which used to end the process with a Go stack
// overflow (the walks after decoding recurse): over OTLP/HTTP protobuf and
// JSON and over gRPC each is now a bad request, and Clew keeps serving and
// still stores a value nested right at the limit.
func TestDeepNestingDoesNotKillClew(t *testing.T) {
	a := startApp(t, t.TempDir())
	// A million levels crashed Clew; 100,000 did not (500,000 were stored),
	// so the other cases only show every path refuses.
	const levels, fewer = 1_000_000, 100_000
	httpURL := "http://" + a.Addrs().OTLPHTTP

	for _, c := range []struct {
		name, path, ct string
		body           []byte
	}{
		{"traces protobuf", "/v1/traces", "application/x-protobuf", otlptest.TracesProto(levels, otlptest.Array)},
		{"traces JSON", "/v1/traces", "application/json", otlptest.TracesJSON(levels, otlptest.Array)},
		{"logs protobuf", "/v1/logs", "application/x-protobuf", otlptest.LogsProto(fewer, otlptest.KVList)},
	} {
		if got, body := post(t, httpURL+c.path, c.ct, c.body, nil); got != http.StatusBadRequest || !strings.Contains(string(body), "levels deep") {
			t.Errorf("%s: status %d (%.200s), want 400 naming the depth limit", c.name, got, body)
		}
	}
	for _, c := range []struct {
		method string
		msg    []byte
	}{
		{grpcTraces, otlptest.TracesProto(levels, otlptest.KVList)},
		{grpcLogs, otlptest.LogsProto(fewer, otlptest.Array)},
	} {
		err := grpcExport(t, a.Addrs().OTLPGRPC, c.method, c.msg)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "levels deep") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT naming the depth limit", c.method, err)
		}
	}

	// At the limit the value is stored whole and served back.
	if err := grpcExport(t, a.Addrs().OTLPGRPC, grpcTraces, otlptest.TracesProto(64, otlptest.KVList)); err != nil {
		t.Fatalf("export at the limit: %v", err)
	}
	var tr jaegerResponse[[]jaegerTrace]
	getJSON(t, "http://"+a.Addrs().Query+"/api/traces/dee90000000000000000000000000000", 200, &tr)
	var deep string
	for _, tag := range tr.Data[0].Spans[0].Tags {
		if tag.Key == "deep" {
			deep, _ = tag.Value.(string)
		}
	}
	if n := strings.Count(deep, `{"k":`); n != 64 {
		t.Errorf("stored value has %d nested maps, want 64: %.300s", n, deep)
	}
}

// TestInvalidUTF8IsRepairedEverywhere: a span and service name that are not
// UTF-8 used to make every /metrics scrape fail for the life of the process.
// Now the pipeline replaces each bad run with U+FFFD at ingest, so metrics,
// the query API and the store all show the same repaired text.
func TestInvalidUTF8IsRepairedEverywhere(t *testing.T) {
	a := startApp(t, t.TempDir())
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc\xff")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{0x0f, 0xff})
	s.SetSpanID(pcommon.SpanID{1})
	s.SetName("op\xff")
	s.SetKind(ptrace.SpanKindServer)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Millisecond)))
	s.Attributes().PutStr("k", "v\xfe")
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if got, resp := post(t, "http://"+a.Addrs().OTLPHTTP+"/v1/traces", "application/x-protobuf", body, nil); got != 200 {
		t.Fatalf("export: %d %s", got, resp)
	}

	const r = "\uFFFD"
	metrics := "http://" + a.Addrs().Admin + "/metrics"
	want := `operation="op` + r + `",service="svc` + r + `"`
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(metrics)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d %.300s", resp.StatusCode, text)
		}
		if strings.Contains(string(text), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s", want)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, not synchronising on time
	}

	var services jaegerResponse[[]string]
	getJSON(t, "http://"+a.Addrs().Query+"/api/services", 200, &services)
	if !slices.Contains(services.Data, "svc"+r) {
		t.Errorf("services %q, want svc%s", services.Data, r)
	}
	var tr jaegerResponse[[]jaegerTrace]
	getJSON(t, "http://"+a.Addrs().Query+"/api/traces/0fff0000000000000000000000000000", 200, &tr)
	sp := tr.Data[0].Spans[0]
	if sp.OperationName != "op"+r || tr.Data[0].Processes[sp.ProcessID].ServiceName != "svc"+r {
		t.Errorf("trace shows %q in %q", sp.OperationName, tr.Data[0].Processes[sp.ProcessID].ServiceName)
	}
	for _, tag := range sp.Tags {
		if tag.Key == "k" && tag.Value != "v"+r {
			t.Errorf("tag k = %q, want v%s", tag.Value, r)
		}
	}
}

// TestHugeNamesAndResourcesAreCut: names and resources used to be stored
// whole (a 10 MB span name came back from every operations call, a 1 MB
// service name from every services call); now they are cut like attributes
// and the cut is marked.
func TestHugeNamesAndResourcesAreCut(t *testing.T) {
	a := startApp(t, t.TempDir())
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", strings.Repeat("s", 1<<20))
	many := map[string]any{} // FromRaw: Put checks every key already there
	for i := range 100_000 {
		many[strconv.Itoa(i)] = i
	}
	if err := rs.Resource().Attributes().PutEmptyMap("many").FromRaw(many); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		rs.Resource().Attributes().PutStr("r"+strconv.Itoa(i), "x")
	}
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{0xb1, 0x9})
	s.SetSpanID(pcommon.SpanID{1})
	s.SetName(strings.Repeat("n", 10<<20))
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Millisecond)))
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if got, resp := post(t, "http://"+a.Addrs().OTLPHTTP+"/v1/traces", "application/x-protobuf", body, nil); got != 200 {
		t.Fatalf("export: %d %.300s", got, resp)
	}

	var services jaegerResponse[[]string]
	getJSON(t, "http://"+a.Addrs().Query+"/api/services", 200, &services)
	if len(services.Data) != 1 || services.Data[0] != strings.Repeat("s", 1024) {
		t.Errorf("services: %d names, first %d bytes; want the service name cut to 1024 bytes", len(services.Data), len(services.Data[0]))
	}
	var ops jaegerResponse[[]string]
	getJSON(t, "http://"+a.Addrs().Query+"/api/services/"+services.Data[0]+"/operations", 200, &ops)
	if len(ops.Data) != 1 || len(ops.Data[0]) != 1024 {
		t.Errorf("operations: %d, want one name of 1024 bytes", len(ops.Data))
	}
	var tr jaegerResponse[[]jaegerTrace]
	getJSON(t, "http://"+a.Addrs().Query+"/api/traces/b1090000000000000000000000000000", 200, &tr)
	sp := tr.Data[0].Spans[0]
	tags := map[string]any{}
	for _, tag := range sp.Tags {
		tags[tag.Key] = tag.Value
	}
	if len(sp.OperationName) != 1024 || tags["clew.truncated_names_count"] != float64(1) {
		t.Errorf("span name %d bytes, marker %v", len(sp.OperationName), tags["clew.truncated_names_count"])
	}
	var process struct {
		Data []struct {
			Processes map[string]struct {
				Tags []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
				} `json:"tags"`
			} `json:"processes"`
		} `json:"data"`
	}
	getJSON(t, "http://"+a.Addrs().Query+"/api/traces/b1090000000000000000000000000000", 200, &process)
	for _, p := range process.Data[0].Processes {
		rtags := map[string]any{}
		for _, tag := range p.Tags {
			rtags[tag.Key] = tag.Value
		}
		if len(p.Tags) > 128+2 || rtags["clew.dropped_attributes_count"] == nil || rtags["clew.truncated_attribute_values_count"] == nil {
			t.Errorf("process has %d tags, markers %v %v", len(p.Tags), rtags["clew.dropped_attributes_count"], rtags["clew.truncated_attribute_values_count"])
		}
		if m, ok := rtags["many"].(string); ok && len(m) > 16<<10 {
			t.Errorf("resource map kept %d bytes", len(m))
		}
	}
}
