package block

import (
	"context"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/s3test"
)

// BenchmarkTraceByIDBucket looks traces up in one 200,000-span block on
// local disk and on a real S3 server (versitygw on loopback), and reports
// the requests each lookup sends to the bucket: "uncached" reads through
// no cache (each of parquet-go's 16 KiB reads is a GET), "cold" opens the
// block with an empty cache before each lookup (meta, index, bloom and
// footer then in memory; the open is not timed or counted), "warm" looks
// up traces whose pages are in the memory cache.
func BenchmarkTraceByIDBucket(b *testing.B) {
	ctx := context.Background()
	spans := genSpans(200_000, 11)
	var ids []model.TraceID
	for i, s := range spans {
		if i == 0 || s.TraceID != spans[i-1].TraceID {
			ids = append(ids, s.TraceID)
		}
	}
	srv := s3test.Start(b)
	s3test.SetCredentials(b)
	s3, err := objstore.NewS3(ctx, objstore.S3Options{Bucket: srv.Bucket(b, "bench"), Endpoint: srv.Endpoint, Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	local, err := objstore.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	meta, err := Write(ctx, s3, spans, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Write(ctx, local, spans, nil, 0); err != nil {
		b.Fatal(err)
	}
	const warmSet = 200 // traces looked up again and again in "warm"
	for _, bc := range []struct {
		name   string
		bucket objstore.Bucket
		cache  *objstore.CacheOptions
		ids    []model.TraceID
	}{
		{"local", local, nil, ids},
		{"s3/uncached", s3, nil, ids},
		{"s3/cold", s3, &objstore.CacheOptions{}, ids},
		{"s3/warm", s3, &objstore.CacheOptions{}, ids[:warmSet]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			counting := objstore.NewCounting(bc.bucket)
			var bucket objstore.Bucket = counting
			if bc.cache != nil {
				if bucket, err = objstore.NewCache(counting, *bc.cache); err != nil {
					b.Fatal(err)
				}
			}
			id := meta.ID
			if bc.bucket == local {
				id = onlyBlock(b, local)
			}
			bl, err := Open(ctx, bucket, id)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = bl.Close() }()
			for i := range min(warmSet, len(bc.ids)) { // warm the cache (no effect on the others)
				if _, err := bl.Trace(ctx, bc.ids[i]); err != nil {
					b.Fatal(err)
				}
			}
			var gets int64
			i := 0
			for b.Loop() {
				if bc.name == "s3/cold" {
					b.StopTimer()
					cache, err := objstore.NewCache(counting, *bc.cache)
					if err != nil {
						b.Fatal(err)
					}
					_ = bl.Close()
					if bl, err = Open(ctx, cache, id); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				before := counting.Counts()
				got, err := bl.Trace(ctx, bc.ids[(i*7919)%len(bc.ids)])
				if err != nil || len(got) == 0 {
					b.Fatal(len(got), err)
				}
				after := counting.Counts()
				gets += after.RangeRead - before.RangeRead + after.Get - before.Get
				i++
			}
			b.ReportMetric(float64(gets)/float64(b.N), "GETs/op")
		})
	}
}

func onlyBlock(b *testing.B, bucket objstore.Bucket) string {
	metas, err := ListMetas(context.Background(), bucket)
	if err != nil || len(metas) != 1 {
		b.Fatal(metas, err)
	}
	return metas[0].ID
}
