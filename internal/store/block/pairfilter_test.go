package block

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// A blocked filter holds every pair it was built from, lets through about
// 0.1 % of the others, and — the point of it — about as many of the pairs
// the blocked block filter of v7–v9 (and of v10 when no fuse filter can be
// built) lets through: its hashes are mixed independently of that one's,
// so an absent pair passes both at about the product of the two rates.
func TestBlockedFilterRates(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([]uint64, 40_000)
	for i := range in {
		in[i] = pairHash("user.id", fmt.Sprintf("u-%08d", rng.Uint64()))
	}
	slices.Sort(in)
	in = slices.Compact(in)
	first := newBlockedFilter(slices.Clone(in), blockFilterBitsPerValue, blockFilterK, seedRowGroup)
	second := newBlockedFilter(in, pairFilterBitsPerValue, pairFilterK, seedPairFile)
	// Asked as a reader asks filters.bin: header, then one block.
	data := encodePairFilters([]blockedFilter{second})
	ix, err := decodePairFilterHeader(data, 1, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rg := ix.rowGroups[0]
	if err := checkPairFilterRowGroup(data, ix, rg); err != nil {
		t.Fatal(err)
	}
	has := func(h uint64) bool {
		b, bh := pairFilterSlot(h, seedPairFile, rg.blocks)
		return blockHas(data[rg.off+int64(b)*filterBlockBytes:][:filterBlockBytes], rg.k, bh)
	}
	for _, h := range in {
		if !has(h) {
			t.Fatalf("pair %x: false negative", h)
		}
	}
	const absent = 400_000
	var passSecond, passFirst, passBoth int
	for i := range absent {
		h := pairHash("user.id", fmt.Sprintf("nobody-%d", i))
		f, s := first.mayContain(h), has(h)
		if s {
			passSecond++
		}
		if f {
			passFirst++
			if s {
				passBoth++
			}
		}
	}
	rate := float64(passSecond) / absent
	t.Logf("false positives: second filter %.3f %%, first %.3f %%, both %d of %d (%.4f %%)", 100*rate, 100*float64(passFirst)/absent, passBoth, absent, 100*float64(passBoth)/absent)
	if rate > 0.003 || rate == 0 {
		t.Errorf("second filter lets %.3f %% of absent pairs through, want about 0.1 %%", 100*rate)
	}
	if first := float64(passFirst) / absent; first > 0.005 {
		t.Errorf("block filter lets %.3f %% of absent pairs through, want about 0.2 %%", 100*first)
	}
	// Independent: of the ~700 absent pairs the first filter lets
	// through, about 0.1 % (0 or 1) pass the second; correlated hashes
	// would let most of them through.
	if passFirst < 300 || float64(passBoth) > 3*rate*float64(passFirst)+5 {
		t.Errorf("%d of the %d absent pairs that pass the first filter pass the second: the filters are not independent", passBoth, passFirst)
	}
}

// objectReads is a Bucket that counts range reads per object name (the
// part after the block ID).
type objectReads struct {
	objstore.Bucket
	reads map[string]*atomic.Int64
}

func newObjectReads(b objstore.Bucket) *objectReads {
	o := &objectReads{Bucket: b, reads: map[string]*atomic.Int64{}}
	for _, n := range []string{dataName, indexName, tracesName, summariesName, filtersName} {
		o.reads[n] = &atomic.Int64{}
	}
	return o
}

func (o *objectReads) Open(ctx context.Context, name string) (objstore.Reader, error) {
	r, err := o.Bucket.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return countedReader{r, o.reads[name[strings.LastIndex(name, "/")+1:]]}, nil
}

type countedReader struct {
	objstore.Reader
	n *atomic.Int64
}

func (r countedReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	r.n.Add(1)
	return r.Reader.ReadAt(ctx, p, off)
}

// A search for a value no span holds scans no row group of a block whose
// in-memory filter lets it through by a false positive, and makes no
// scanner for it: filters.bin rules it out. With
// filters.bin missing or damaged, the same searches scan those row groups
// and still answer right, and values that are there are found in every
// case.
func TestPairFiltersSkipRowGroups(t *testing.T) {
	ctx := context.Background()
	local := newBucket(t)
	spans := genSpans(70_000, 17) // more than two row groups
	m, err := Write(ctx, local, spans, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := Open(ctx, local, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Absent user IDs that the block's in-memory filter lets through (about
	// 1 in 65,000 since v10).
	var fooled []string
	for i := 0; len(fooled) < 6 && i < 5_000_000; i++ {
		v := "nobody-" + strconv.Itoa(i)
		if bl.ix.values.mayContain(pairHash("user.id", v)) {
			fooled = append(fooled, v)
		}
	}
	bl.Close()
	if len(fooled) < 6 {
		t.Fatalf("found %d absent values that pass a first filter, want 6", len(fooled))
	}
	present := []string{}
	for _, s := range spans[:2000] {
		for _, a := range s.Attributes {
			if a.Key == "user.id" && len(present) < 12 {
				present = append(present, a.Value.Str)
			}
		}
	}
	search := func(t *testing.T, b objstore.Bucket, value string) (matches int, dataReads int64) {
		t.Helper()
		reads := newObjectReads(b)
		bl, err := Open(ctx, reads, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer bl.Close()
		before := reads.reads[dataName].Load()
		pred := predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": value}})
		if err := bl.Scan(ctx, pred, func(model.TraceID, int64) bool { matches++; return true }); err != nil {
			t.Fatal(err)
		}
		return matches, reads.reads[dataName].Load() - before
	}
	want := func(value string) int {
		n := 0
		for i := range spans {
			for _, a := range spans[i].Attributes {
				if a.Key == "user.id" && a.Value.Str == value {
					n++
				}
			}
		}
		return n
	}
	dir := func(b objstore.Bucket) string { return filepath.Join(b.(*objstore.Local).Dir(), m.ID) }
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T) objstore.Bucket
		skips   bool // the fooled row groups are not read
	}{
		{"filters.bin", func(t *testing.T) objstore.Bucket { return local }, true},
		{"missing", func(t *testing.T) objstore.Bucket {
			b := copyBucket(t, local)
			if err := os.Remove(filepath.Join(dir(b), filtersName)); err != nil {
				t.Fatal(err)
			}
			return b
		}, false},
		{"damaged", func(t *testing.T) objstore.Bucket {
			b := copyBucket(t, local)
			path := filepath.Join(dir(b), filtersName)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			raw[6] ^= 0xff // the header: its checksum no longer matches
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			return b
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.prepare(t)
			var read int64
			for _, v := range fooled {
				n, r := search(t, b, v)
				if n != 0 {
					t.Fatalf("absent %q: %d matches", v, n)
				}
				read += r
			}
			if c.skips && read != 0 {
				t.Errorf("searches for %d absent values read the data file %d times, want 0", len(fooled), read)
			}
			if !c.skips && read == 0 {
				t.Errorf("without a usable filters.bin, the fooled row groups were not scanned: the test proves nothing")
			}
			// filters.bin is asked before a scanner is made (mayPass): a
			// fooled block costs no per-resource work either.
			bl, err := Open(ctx, b, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer bl.Close()
			for _, v := range fooled {
				sc := bl.newScanner(ctx, predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": v}}))
				if c.skips != (sc == nil) {
					t.Errorf("absent %q: scanner made %v, want %v", v, sc != nil, !c.skips)
				}
			}
			for _, v := range present {
				if n, _ := search(t, b, v); n != want(v) || n == 0 {
					t.Errorf("present %q: %d matches, want %d", v, n, want(v))
				}
			}
		})
	}
}

// copyBucket copies a local bucket's objects into a new one.
func copyBucket(t *testing.T, b objstore.Bucket) objstore.Bucket {
	t.Helper()
	return copyFixture(t, b.(*objstore.Local).Dir())
}

// FuzzDecodePairFilters: arbitrary bytes never panic the decoder or make
// it allocate without bound, and what it accepts points inside the data.
func FuzzDecodePairFilters(f *testing.F) {
	f.Add(encodePairFilters([]blockedFilter{newBlockedFilter([]uint64{1, 2, 3}, pairFilterBitsPerValue, pairFilterK, seedPairFile)}), 1)
	f.Add(encodePairFilters([]blockedFilter{newBlockedFilter(nil, pairFilterBitsPerValue, pairFilterK, seedPairFile), newBlockedFilter([]uint64{7}, pairFilterBitsPerValue, pairFilterK, seedPairFile)}), 2)
	if raw, err := os.ReadFile(newestFixtureObject(f, filtersName)); err == nil {
		f.Add(raw, 1)
	}
	f.Fuzz(func(t *testing.T, data []byte, rowGroups int) {
		ix, err := decodePairFilterHeader(data, rowGroups, int64(len(data)))
		if err != nil {
			return
		}
		for _, rg := range ix.rowGroups {
			end := rg.off + int64(rg.blocks)*filterBlockBytes
			if rg.blocks <= 0 || rg.off < 0 || end > int64(len(data)) {
				t.Fatalf("accepted row group %+v of %d bytes", rg, len(data))
			}
			if ix.version >= 2 && (rg.table < 0 || rg.table+4*int64(pairFilterPages(rg.blocks)) > rg.off) {
				t.Fatalf("accepted a page table at %d overlapping blocks at %d", rg.table, rg.off)
			}
			_ = checkPairFilterRowGroup(data, ix, rg)
		}
	})
}

// newestFixtureObject is the path of an object of the newest fixture block
// ("" when none has it).
func newestFixtureObject(t testing.TB, name string) string {
	paths, _ := filepath.Glob(filepath.Join("testdata", "format-v*", "*", name))
	if len(paths) == 0 {
		return ""
	}
	return paths[len(paths)-1]
}

// A page of a row group's filter that fails its checksum answers "may
// contain" for the probes that land in it, and a row group whose page table
// fails its checksum for all of them; the other pages and row groups still
// rule pairs out. A version-1 filters.bin (blocks written before
// 2026-12-01: one checksum over each row group's blocks) still reads, and
// its damaged row group answers "may contain" as a whole.
func TestPairFilterDamagedRowGroup(t *testing.T) {
	ctx := context.Background()
	local := newBucket(t)
	m, err := Write(ctx, local, genSpans(70_000, 19), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(local.(*objstore.Local).Dir(), m.ID, filtersName)
	intact, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := decodePairFilterHeader(intact, 3, int64(len(intact)))
	if err != nil {
		t.Fatalf("block of 3 row groups: %v", err)
	}
	if ix.version != pairFilterVersion || pairFilterPages(ix.rowGroups[0].blocks) < 2 {
		t.Fatalf("version %d, %d pages in row group 0: want version %d and several pages", ix.version, pairFilterPages(ix.rowGroups[0].blocks), pairFilterVersion)
	}
	absent := make([]uint64, 300)
	for i := range absent {
		absent[i] = pairHash("user.id", fmt.Sprintf("nobody-%d", i))
	}
	// ask opens the block on raw as filters.bin and asks each row group
	// for each absent pair: how many each rules out.
	ask := func(t *testing.T, raw []byte, mustPass func(g int, h uint64) bool) [3]int {
		t.Helper()
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		bl, err := Open(ctx, local, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer bl.Close()
		var ruledOut [3]int
		for _, h := range absent {
			for g := range 3 {
				if bl.pairFiltersMayContain(ctx, g, []uint64{h}) {
					continue
				}
				if mustPass(g, h) {
					t.Fatalf("row group %d ruled out pair %x through a damaged part of its filter", g, h)
				}
				ruledOut[g]++
			}
		}
		return ruledOut
	}
	inPage0 := func(h uint64) bool {
		b, _ := pairFilterSlot(h, seedPairFile, ix.rowGroups[0].blocks)
		return b < pairFilterPageBlocks
	}

	t.Run("version 2", func(t *testing.T) {
		raw := slices.Clone(intact)
		raw[ix.rowGroups[0].off+5] ^= 0x10   // a block of row group 0's first page
		raw[ix.rowGroups[2].table+1] ^= 0x10 // row group 2's page table
		got := ask(t, raw, func(g int, h uint64) bool { return g == 2 || g == 0 && inPage0(h) })
		page0 := 0
		for _, h := range absent {
			if inPage0(h) {
				page0++
			}
		}
		if got[1] < len(absent)*95/100 || got[0] < (len(absent)-page0)*95/100 || got[2] != 0 {
			t.Errorf("ruled out %v of %d absent pairs (%d in row group 0's damaged page), want nearly all in row group 1 and outside that page", got, len(absent), page0)
		}
		if page0 == 0 || page0 == len(absent) {
			t.Fatalf("%d of %d pairs land in row group 0's first page: the test proves nothing", page0, len(absent))
		}
	})
	t.Run("version 1", func(t *testing.T) {
		fs := make([]blockedFilter, len(ix.rowGroups))
		for g, rg := range ix.rowGroups {
			fs[g] = blockedFilter{k: rg.k, seed: seedPairFile, data: intact[rg.off : rg.off+int64(rg.blocks)*filterBlockBytes]}
		}
		raw := encodePairFiltersV1(fs)
		v1, err := decodePairFilterHeader(raw, 3, int64(len(raw)))
		if err != nil || v1.version != 1 {
			t.Fatalf("version 1 filters.bin: version %v, %v", v1, err)
		}
		if got := ask(t, raw, func(int, uint64) bool { return false }); got[0] < len(absent)*95/100 {
			t.Errorf("intact version 1 row group 0 ruled out %d of %d absent pairs", got[0], len(absent))
		}
		raw[v1.rowGroups[0].off+5] ^= 0x10
		if got := ask(t, raw, func(g int, _ uint64) bool { return g == 0 }); got[1] < len(absent)*95/100 {
			t.Errorf("intact row group 1 ruled out %d of %d absent pairs, want nearly all", got[1], len(absent))
		}
	})
}

// encodePairFiltersV1 lays out filters.bin as version 1 had it (one
// checksum over each row group's blocks, no page tables), for the tests of
// its reading.
func encodePairFiltersV1(fs []blockedFilter) []byte {
	e := &encoder{b: append([]byte(nil), filtersMagic[:]...)}
	e.uvarint(1)
	e.uvarint(uint64(len(fs)))
	for _, f := range fs {
		e.uvarint(uint64(f.blocks()))
		e.b = append(e.b, f.k)
		e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(f.data, castagnoli))
	}
	e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
	for _, f := range fs {
		e.b = append(e.b, f.data...)
	}
	return e.b
}

// checkPairFilterRowGroup checks a row group of a filters.bin held whole
// in memory against its checksums: version 1 its blocks', version 2 its
// page table's and each page's.
func checkPairFilterRowGroup(data []byte, ix *pairFilterIndex, rg pairFilterRG) error {
	blocks := data[rg.off : rg.off+int64(rg.blocks)*filterBlockBytes]
	if ix.version < 2 {
		if crc32.Checksum(blocks, castagnoli) != rg.crc {
			return fmt.Errorf("%w: row group checksum mismatch", ErrCorrupt)
		}
		return nil
	}
	table := data[rg.table : rg.table+4*int64(pairFilterPages(rg.blocks))]
	if crc32.Checksum(table, castagnoli) != rg.crc {
		return fmt.Errorf("%w: page table checksum mismatch", ErrCorrupt)
	}
	for p := range pairFilterPages(rg.blocks) {
		page := blocks[p*pairFilterPageBlocks*filterBlockBytes : min((p+1)*pairFilterPageBlocks*filterBlockBytes, len(blocks))]
		if crc32.Checksum(page, castagnoli) != binary.LittleEndian.Uint32(table[4*p:]) {
			return fmt.Errorf("%w: page %d checksum mismatch", ErrCorrupt, p)
		}
	}
	return nil
}
