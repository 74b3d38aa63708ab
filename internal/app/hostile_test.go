package app

import (
	"net/http"
	"strings"
	"testing"

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
