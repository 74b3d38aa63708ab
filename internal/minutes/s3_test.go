package minutes

import (
	"context"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/s3test"
)

// TestJournalOnS3 runs two writers, a reader and the retention against a
// real S3 server (versitygw): names with the writer, listing by hour
// prefix below the bucket's own prefix, GETs and deletes.
func TestJournalOnS3(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s3test.SetCredentials(t)
	b, err := objstore.NewS3(ctx, objstore.S3Options{
		Bucket: srv.Bucket(t, "minutes"), Endpoint: srv.Endpoint, Insecure: true, Prefix: "clew/",
	})
	if err != nil {
		t.Fatal(err)
	}
	ret := func(o *Options[count]) { o.Retention = time.Hour }
	a := open(t, b, "node-a", ret)
	c := open(t, b, "node-b", ret)
	now := t0.Add(2 * time.Minute)
	if _, err := a.Sync(ctx, now); err != nil { // the full listing: empty
		t.Fatal(err)
	}
	a.Add(t0, count{N: 1})
	c.Add(t0, count{N: 20})
	c.Add(t0.Add(time.Minute), count{N: 300})
	for _, j := range []*Journal[count]{a, c} {
		if err := j.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	news, err := a.Sync(ctx, now.Add(10*time.Second)) // incremental: the hour prefix 20261121T10
	if err != nil {
		t.Fatal(err)
	}
	if len(news) != 2 {
		t.Fatalf("news %v, want node-b's two minutes", news)
	}
	if n := sum(t, a, t0, now); n != 321 {
		t.Errorf("a sums %d, want 321", n)
	}
	if err := a.Expire(ctx, t0.Add(62*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := names(t, b)
	if len(got) != 0 {
		t.Errorf("objects after retention: %v", got)
	}
}
