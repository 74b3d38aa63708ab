package block

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A fuse filter of any size, down to none, holds every hash it was built
// from after a round trip through index.bin's encoding, and the decoder
// refuses shapes whose probes would land outside the fingerprints.
func TestMemFilterSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 100, 1000, 70_000} {
		in := make([]uint64, n)
		for i := range in {
			in[i] = rng.Uint64()
		}
		built := newMemFilter(append([]uint64(nil), in...), blockFilterBitsPerValue, blockFilterK, seedRowGroup)
		var e encoder
		e.memFilter(built)
		d := decoder{b: e.b}
		f := d.memFilter("filter", seedRowGroup)
		if d.err != nil || len(d.b) != 0 {
			t.Fatalf("%d hashes: decode: %v, %d bytes left", n, d.err, len(d.b))
		}
		if n > 0 && len(f.fuse.Fingerprints) == 0 {
			t.Errorf("%d hashes: no fuse filter", n)
		}
		for _, h := range in {
			if !f.mayContain(h) {
				t.Fatalf("%d hashes: %x missing", n, h)
			}
		}
		fp := 0
		for range 100_000 {
			if f.mayContain(rng.Uint64()) {
				fp++
			}
		}
		if fp > 10 {
			t.Errorf("%d hashes: %d false positives in 100,000, want about 1", n, fp)
		}
	}

	good := newMemFilter([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, blockFilterBitsPerValue, blockFilterK, seedRowGroup)
	for name, mutate := range map[string]func(e *encoder){
		"segment length not a power of two": func(e *encoder) {
			e.uvarint(uint64(good.fuse.SegmentLength) + 1)
			e.uvarint(uint64(good.fuse.SegmentCount))
		},
		"segment length too large": func(e *encoder) { e.uvarint(maxFuseSegmentLength * 2); e.uvarint(1) },
		"no segments":              func(e *encoder) { e.uvarint(uint64(good.fuse.SegmentLength)); e.uvarint(0) },
		"more segments than fingerprints": func(e *encoder) {
			e.uvarint(uint64(good.fuse.SegmentLength))
			e.uvarint(uint64(good.fuse.SegmentCount) + 1)
		},
		"huge segment count": func(e *encoder) { e.uvarint(uint64(good.fuse.SegmentLength)); e.uvarint(1 << 40) },
	} {
		t.Run(name, func(t *testing.T) {
			e := encoder{b: []byte{memFilterFuse16, 0, 0, 0, 0, 0, 0, 0, 0}}
			mutate(&e)
			for _, fp := range good.fuse.Fingerprints {
				e.b = append(e.b, byte(fp), byte(fp>>8))
			}
			d := decoder{b: e.b}
			if f := d.memFilter("filter", seedRowGroup); d.err == nil {
				t.Errorf("accepted: %d fingerprints, segment length %d, count %d", len(f.fuse.Fingerprints), f.fuse.SegmentLength, f.fuse.SegmentCount)
			}
		})
	}
	d := decoder{b: []byte{9}}
	if d.memFilter("filter", seedRowGroup); d.err == nil {
		t.Error("an unknown filter kind was accepted")
	}
}

// BenchmarkBlockFilterProbe asks 100 block filters, each of 127,000 pairs
// (a 200,000-span block of clewbench data), for a pair none holds — what a
// search for an absent value does in each block of its window — as the
// blocked Bloom filter of v7–v9 and as the fuse filter of v10. The filters
// (22 and 30 MB) are far larger than the CPU's caches, as in a store of
// many blocks. fp is the filters fooled a probe round.
func BenchmarkBlockFilterProbe(b *testing.B) {
	const filters, pairs = 100, 127_000
	rng := rand.New(rand.NewPCG(5, 6))
	blocked := make([]memFilter, filters)
	fuse := make([]memFilter, filters)
	for i := range filters {
		in := make([]uint64, pairs)
		for j := range in {
			in[j] = rng.Uint64()
		}
		fuse[i] = newBlockValueFilter(slices.Clone(in))
		slices.Sort(in)
		blocked[i] = memFilter{blocked: newBlockedFilter(in, blockFilterBitsPerValue, blockFilterK, seedRowGroup)}
	}
	for _, c := range []struct {
		name string
		fs   []memFilter
	}{{"blocked-v9", blocked}, {"fuse-v10", fuse}} {
		b.Run(c.name, func(b *testing.B) {
			fooled, rounds := 0, 0
			for b.Loop() {
				h := rng.Uint64()
				for i := range c.fs {
					if c.fs[i].mayContain(h) {
						fooled++
					}
				}
				rounds++
			}
			b.ReportMetric(float64(fooled)/float64(rounds), "fp")
			size := 2*len(c.fs[0].fuse.Fingerprints) + len(c.fs[0].blocked.data)
			b.ReportMetric(float64(size)/pairs*8, "bits/pair")
		})
	}
}
