package logstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/s3test"
)

// The log store's lifecycle against a real S3 server (versitygw): blocks
// written, listed, read, compacted, expired and deleted through the S3
// client, two nodes on one bucket, and a node with an empty data directory
// reading what another wrote.
func TestOnS3(t *testing.T) {
	srv := s3test.Start(t)
	s3test.SetCredentials(t)
	newBucket := func(t *testing.T, name string) objstore.Bucket {
		b, err := objstore.NewS3(context.Background(), objstore.S3Options{Bucket: srv.Bucket(t, name), Endpoint: srv.Endpoint, Insecure: true, Prefix: "clew/"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("SharedTwoNodes", func(t *testing.T) { testSharedTwoNodes(t, newBucket(t, "shared")) })
	t.Run("ReopenOnAnotherNode", func(t *testing.T) {
		ctx := context.Background()
		clk := &clock{t: t0}
		bucket, err := objstore.WithPrefix(newBucket(t, "reopen"), "logs")
		if err != nil {
			t.Fatal(err)
		}
		a := openTest(t, t.TempDir(), clk, func(o *Options) { o.Bucket = bucket })
		consume(t, a, spec{at: 0, trace: 4, svc: "api", body: "first"}, spec{at: time.Second, trace: 4, svc: "api", body: "second"})
		if err := a.Close(ctx); err != nil { // writes the head as a block
			t.Fatal(err)
		}
		b := openTest(t, t.TempDir(), clk, func(o *Options) { o.Bucket = bucket })
		if got := search(t, b, LogQuery{TraceID: ptr(traceID(4))}); !slices.Equal(got, []string{"first", "second"}) {
			t.Fatalf("a node with an empty data directory found %q", got)
		}
		counts, err := b.CountByTrace(ctx, []model.TraceID{traceID(4)})
		if err != nil || counts[traceID(4)] != 2 {
			t.Fatalf("CountByTrace = %v, %v", counts, err)
		}
	})
}
