package app

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/s3test"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/block"
)

// TestEndToEndOnS3 runs Clew with --storage s3 against a real S3 server
// (versitygw): spans and a log record exported with the OTel SDK end up as
// blocks in the bucket (log blocks below logs/), and a second Clew with an
// empty data directory (no WAL) finds the trace and its log from the bucket
// alone, through the disk cache.
func TestEndToEndOnS3(t *testing.T) {
	srv := s3test.Start(t)
	s3test.SetCredentials(t)
	bucket := srv.Bucket(t, "clew")
	useS3 := func(c *config.Config) {
		c.Storage, c.S3Bucket, c.S3Endpoint, c.S3Insecure, c.S3Prefix = "s3", bucket, srv.Endpoint, true, "traces/"
		c.BlockMaxAge = config.Duration(time.Second)
		c.CacheDir = t.TempDir()
	}
	a := startApp(t, t.TempDir(), useS3)
	tp := provider(t, "checkout", grpcExporter(t, a.Addrs().OTLPGRPC))
	ctx, root := tp.Tracer("e2e").Start(context.Background(), "POST /pay", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tp.Tracer("e2e").Start(ctx, "charge card")
	// A log record of the trace, over OTLP: log blocks go to the same
	// bucket, below logs/.
	logExp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(a.Addrs().OTLPHTTP), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "checkout"))))
	defer lp.Shutdown(context.Background())
	var rec otellog.Record
	rec.SetBody(attribute.StringValue("card charged"))
	rec.SetSeverity(otellog.SeverityInfo)
	lp.Logger("e2e").Emit(ctx, rec)
	if err := lp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	child.End()
	root.End()
	traceID := root.SpanContext().TraceID().String()

	// The head is cut after a second; poll the bucket for the block.
	probe, err := objstore.NewS3(context.Background(), objstore.S3Options{Bucket: bucket, Endpoint: srv.Endpoint, Insecure: true, Prefix: "traces/"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		metas, err := block.ListMetas(context.Background(), probe)
		if err != nil {
			t.Fatal(err)
		}
		if len(metas) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no block reached the bucket within 30s")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	logProbe, err := objstore.WithPrefix(probe, "logs")
	if err != nil {
		t.Fatal(err)
	}
	for {
		l, err := segment.List(context.Background(), logProbe)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Complete) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no log block reached the bucket within 30s")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	if n := metric(t, a.Addrs().Admin, `clew_objstore_requests_total{op="put"}`); n < 3 {
		t.Errorf("clew_objstore_requests_total{op=put} = %v, want at least 3 (data, index, meta)", n)
	}

	// A second node with nothing local reads the trace from the bucket.
	b := startApp(t, t.TempDir(), useS3)
	var found jaegerResponse[[]jaegerTrace]
	getJSON(t, "http://"+b.Addrs().Query+"/api/traces/"+traceID, 200, &found)
	if len(found.Data) != 1 || len(found.Data[0].Spans) != 2 {
		t.Fatalf("trace from the bucket: %+v, want 2 spans", found.Data)
	}
	var logs struct {
		Logs []struct {
			Body string `json:"body"`
		} `json:"logs"`
	}
	getJSON(t, "http://"+b.Addrs().Query+"/api/clew/logs?traceID="+traceID, 200, &logs)
	if len(logs.Logs) != 1 || logs.Logs[0].Body != "card charged" {
		t.Fatalf("logs of the trace from the bucket: %+v, want the one record", logs.Logs)
	}
	if n := metric(t, b.Addrs().Admin, `clew_objstore_cache_misses_total`); n == 0 {
		t.Error("reading a block from the bucket fetched no chunks")
	}
}

// metric reads one sample from /metrics.
func metric(t *testing.T, admin, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics lacks %s", series)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
