package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/internal/errgroups"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/s3test"
	"github.com/clewtrace/clew/internal/spanmetrics"
)

// TestSharedMinutesOnS3: two nodes on one bucket of a real S3 server
// (versitygw). Node B's span-metrics and error-group minutes go to the
// bucket, and node A's RED metrics and error groups count B's traffic with
// its own.
func TestSharedMinutesOnS3(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s3test.SetCredentials(t)
	bucket := srv.Bucket(t, "clew")
	useS3 := func(c *config.Config) {
		c.Storage, c.S3Bucket, c.S3Endpoint, c.S3Insecure, c.S3Prefix = "s3", bucket, srv.Endpoint, true, "traces/"
	}
	a := startApp(t, t.TempDir(), useS3)
	b := startApp(t, t.TempDir(), useS3)

	fail := func(addr string, n int) {
		tp := provider(t, "payments", grpcExporter(t, addr))
		for i := range n {
			_, span := tp.Tracer("e2e").Start(ctx, "POST /pay", trace.WithSpanKind(trace.SpanKindServer))
			span.RecordError(fmt.Errorf("payment %d declined: %w", i, errors.ErrUnsupported))
			span.SetStatus(codes.Error, "declined")
			span.End() // exported when End returns
		}
	}
	fail(a.Addrs().OTLPGRPC, 1)
	fail(b.Addrs().OTLPGRPC, 2)
	// B stops: its open minutes are written (otherwise they would be at the
	// end of the minute).
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.Shutdown(stopCtx); err != nil {
		t.Fatal(err)
	}

	probe, err := objstore.NewS3(ctx, objstore.S3Options{Bucket: bucket, Endpoint: srv.Endpoint, Insecure: true, Prefix: "traces/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{spanmetrics.MinutesPrefix, errgroups.MinutesPrefix} {
		var names []string
		if err := probe.List(ctx, prefix, func(n string) error { names = append(names, n); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(names) == 0 || !strings.Contains(names[0], "."+b.nodeID) {
			t.Errorf("objects under %s: %v, want node B's (%s)", prefix, names, b.nodeID)
		}
	}

	base := "http://" + a.Addrs().Query
	eventually(t, "node A counts node B's calls and errors", func() (bool, string) {
		var red struct {
			Services []struct {
				Service string `json:"service"`
				Calls   int    `json:"calls"`
				Errors  int    `json:"errors"`
			} `json:"services"`
		}
		getJSON(t, base+"/api/clew/metrics/services", 200, &red)
		var groups struct {
			Groups []struct {
				Count     int    `json:"count"`
				Service   string `json:"service"`
				FirstSeen string `json:"firstSeen"`
				LastSeen  string `json:"lastSeen"`
			} `json:"groups"`
		}
		getJSON(t, base+"/api/clew/errors", 200, &groups)
		state := fmt.Sprintf("services %+v, groups %+v", red.Services, groups.Groups)
		ok := len(red.Services) == 1 && red.Services[0].Calls == 3 && red.Services[0].Errors == 3 &&
			len(groups.Groups) == 1 && groups.Groups[0].Count == 3 && groups.Groups[0].FirstSeen != "" && groups.Groups[0].LastSeen != ""
		return ok, state
	})
}
