package wal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAppend measures throughput with many concurrent appenders, as
// when many ingest requests are in flight. MB/s is record payload.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		for _, size := range []int{1 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("sync=%s/record=%dKiB", policy, size>>10), func(b *testing.B) {
				w := openReady(b, b.TempDir(), Options{Sync: policy})
				rec := make([]byte, size)
				r := rand.New(rand.NewPCG(1, 2))
				for i := range rec {
					rec[i] = byte(r.Uint32())
				}
				b.SetBytes(int64(size))
				b.SetParallelism(16) // 16 appenders per GOMAXPROCS
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						if _, err := w.Append(ctx, rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				if n := w.batches.Load(); n > 0 {
					b.ReportMetric(float64(b.N)/float64(n), "records/batch")
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
