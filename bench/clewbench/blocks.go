package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/store/block"
)

// blocksCmd fills a data directory with blocks written directly by the block
// writer — the same format and the same span distribution as `clewbench
// ingest` sends (the generator's addTrace) — so that 10 M or 100 M stored
// spans take minutes instead of the half hour that ingest at full speed
// would. Span start times cover the --span-time window ending now, spread
// evenly over the blocks, as ingest at a steady rate would leave them.
func blocksCmd(args []string) error {
	fs := flag.NewFlagSet("blocks", flag.ExitOnError)
	dir := fs.String("data-dir", "", "Clew data directory to fill (blocks/ below it); must not be in use")
	total := fs.Int("spans", 10_000_000, "spans to write")
	perBlock := fs.Int("block-spans", 200_000, "spans per block (Clew's default --block-max-spans)")
	window := fs.Duration("span-time", 0, "time the spans cover, ending now [spans / 69,000 per second: the measured ingest rate]")
	idsOut := fs.String("ids-out", "", "write every 1000th trace ID to this file (for `clewbench query`)")
	seed := fs.Uint64("seed", 1, "random seed")
	_ = fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("blocks: --data-dir is required")
	}
	if *window <= 0 {
		*window = time.Duration(float64(*total) / 69_000 * float64(time.Second))
	}
	bucket, err := objstore.NewLocal(filepath.Join(*dir, "blocks"))
	if err != nil {
		return err
	}
	var ids *os.File
	if *idsOut != "" {
		if ids, err = os.Create(*idsOut); err != nil {
			return err
		}
		defer ids.Close()
	}
	rng := rand.New(rand.NewPCG(*seed, *seed^0x5bd1e995))
	// The span pool is what `clewbench ingest` replays: 512 requests of
	// about 500 spans (the generator's addTrace), each trace sent again
	// and again with a fresh trace ID and moved in time. Values repeat as
	// they do in that load, which is what the ingest figures were measured
	// with.
	var pool [][]model.Span // by trace
	for range 512 {
		td := ptrace.NewTraces()
		scopes := map[string]ptrace.SpanSlice{}
		var tids [][16]byte
		for n := 0; n < 500; {
			tid := randomID(rng)
			tids = append(tids, tid)
			n += addTrace(rng, td, scopes, tid, time.Unix(0, 0))
		}
		byTrace := map[model.TraceID][]model.Span{}
		for _, sp := range model.AppendSpans(nil, td) {
			byTrace[sp.TraceID] = append(byTrace[sp.TraceID], sp)
		}
		for _, tid := range tids {
			pool = append(pool, byTrace[model.TraceID(tid)])
		}
	}
	nBlocks := (*total + *perBlock - 1) / *perBlock
	end := time.Now()
	slice := *window / time.Duration(nBlocks)
	start := time.Now()
	var written, bytes int64
	var seq uint64
	next := 0
	for b := range nBlocks {
		from := end.Add(-*window + time.Duration(b)*slice)
		want := min(*perBlock, *total-int(written))
		spans := make([]model.Span, 0, want+32)
		for len(spans) < want {
			tr := pool[next%len(pool)]
			next++
			seq++
			shift := from.Add(time.Duration(rng.Int64N(int64(slice)))).UnixNano()
			var tid model.TraceID
			copy(tid[:], tr[0].TraceID[:])
			binary.BigEndian.PutUint64(tid[8:], seq^binary.BigEndian.Uint64(tr[0].TraceID[8:]))
			if ids != nil && seq%1000 == 0 {
				fmt.Fprintln(ids, hex.EncodeToString(tid[:]))
			}
			for _, sp := range tr {
				sp.TraceID = tid
				sp.StartUnixNano += shift
				sp.EndUnixNano += shift
				if len(sp.Events) > 0 {
					sp.Events = append([]model.Event(nil), sp.Events...)
					for i := range sp.Events {
						sp.Events[i].TimeUnixNano += shift
					}
				}
				spans = append(spans, sp)
			}
		}
		meta, err := block.Write(context.Background(), bucket, spans, nil, 0)
		if err != nil {
			return err
		}
		written += int64(meta.SpanCount)
		bytes += meta.Bytes
		if b%10 == 9 || b == nBlocks-1 {
			el := time.Since(start)
			fmt.Printf("%d blocks, %d spans, %.1f bytes/span, %.0f spans/s\n", b+1, written, float64(bytes)/float64(written), float64(written)/el.Seconds())
		}
	}
	return nil
}
