package block

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sync"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
)

// Trace summaries (format v6): per trace, what a search result lists —
// root service and operation, start, duration, span and error counts per
// service (model.TraceSummary) — so that a search answer's summaries are
// read from the block, not rebuilt from the trace's spans. They live in
// their own object, summaries.bin, one chunk per granule in the order of
// traces.bin, read a chunk at a time like traces.bin. A block whose
// summaries.bin is missing or damaged is read as before (ErrNoSummary: the
// caller reads the trace), never refused.

// summariesName (v6) holds the per-trace summaries.
const summariesName = "summaries.bin"

var summariesMagic = [4]byte{'C', 'L', 'W', 'S'}

// ErrNoSummary says a block cannot give a trace's summary from its index
// (a block before v6, or its summaries.bin is missing or damaged): read
// the trace instead.
var ErrNoSummary = errors.New("block: no trace summary")

// errClosed answers a summary asked of a closed block.
var errClosed = fmt.Errorf("%w: block closed", ErrNoSummary)

// maxSummaryStrings bounds the string table; names past it (or longer than
// maxTableString) are written inline in their row.
const (
	maxSummaryStrings = 4096
	maxTableString    = 256
)

// summaryWriter builds summaries.bin while the block is written: one row
// per trace, a chunk per granule.
type summaryWriter struct {
	b       []byte
	strs    map[string]int
	table   []string
	chunks  []int64 // length of each finished chunk (rows and CRC)
	chunkAt int     // offset of the open chunk
	open    bool
	ptrs    []*model.Span
}

func newSummaryWriter() *summaryWriter {
	return &summaryWriter{b: append(make([]byte, 0, 1<<16), summariesMagic[:]...), strs: map[string]int{}}
}

// startGranule ends the open chunk (if any) and opens the next.
func (w *summaryWriter) startGranule() {
	w.endChunk()
	w.chunkAt, w.open = len(w.b), true
}

func (w *summaryWriter) endChunk() {
	if !w.open {
		return
	}
	w.b = binary.LittleEndian.AppendUint32(w.b, crc32.Checksum(w.b[w.chunkAt:], castagnoli))
	w.chunks = append(w.chunks, int64(len(w.b)-w.chunkAt))
	w.open = false
}

// strRef writes a string as a table reference (even) or inline (odd).
func (w *summaryWriter) strRef(s string) {
	i, ok := w.strs[s]
	if !ok && len(w.table) < maxSummaryStrings && len(s) <= maxTableString {
		i, ok = len(w.table), true
		w.strs[s] = i
		w.table = append(w.table, s)
	}
	if ok {
		w.b = binary.AppendUvarint(w.b, uint64(i)<<1)
		return
	}
	w.b = binary.AppendUvarint(w.b, uint64(len(s))<<1|1)
	w.b = append(w.b, s...)
}

// addTrace appends the summary row of one trace, whose spans are given in
// block order (start, span ID). Repeated copies of a span (same ID, kind
// and start: a client retry), which reads drop, are not counted.
func (w *summaryWriter) addTrace(spans []model.Span, keys []sortKey) {
	w.ptrs = w.ptrs[:0]
	for _, k := range keys {
		s := &spans[k.idx]
		dup := false
		for j := len(w.ptrs) - 1; j >= 0; j-- {
			p := w.ptrs[j]
			if p.StartUnixNano != s.StartUnixNano || p.SpanID != s.SpanID {
				break // sorted by (start, span ID): copies are adjacent
			}
			if p.Kind == s.Kind {
				dup = true
				break
			}
		}
		if !dup {
			w.ptrs = append(w.ptrs, s)
		}
	}
	w.appendRow(model.SummarizePtrs(w.ptrs))
}

// appendRow encodes one row:
//
//	flags uvarint (bit 0: HasRoot) | root service ref | root operation ref |
//	end − start varint | nServices uvarint | nServices × {name ref, spans uvarint, errors uvarint}
//
// The start and the trace ID are traces.bin's; the span and error counts
// are the services' sums.
func (w *summaryWriter) appendRow(s model.TraceSummary) {
	var flags uint64
	if s.HasRoot {
		flags |= 1
	}
	w.b = binary.AppendUvarint(w.b, flags)
	w.strRef(s.RootServiceName)
	w.strRef(s.RootOperationName)
	w.b = binary.AppendVarint(w.b, s.EndUnixNano-s.StartUnixNano)
	w.b = binary.AppendUvarint(w.b, uint64(len(s.Services)))
	for _, svc := range s.Services {
		w.strRef(svc.Name)
		w.b = binary.AppendUvarint(w.b, uint64(svc.SpanCount))
		w.b = binary.AppendUvarint(w.b, uint64(svc.ErrorSpanCount))
	}
}

// finish ends the last chunk and appends the footer:
//
//	nStrings {str} | nChunks {length uvarint} | CRC-32C of the footer (4 LE) |
//	footer length (4 LE, CRC included) | "CLWS"
func (w *summaryWriter) finish() []byte {
	w.endChunk()
	e := &encoder{b: w.b}
	at := len(e.b)
	e.uvarint(uint64(len(w.table)))
	for _, s := range w.table {
		e.str(s)
	}
	e.uvarint(uint64(len(w.chunks)))
	for _, n := range w.chunks {
		e.uvarint(uint64(n))
	}
	e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b[at:], castagnoli))
	e.b = binary.LittleEndian.AppendUint32(e.b, uint32(len(e.b)-at))
	e.b = append(e.b, summariesMagic[:]...)
	return e.b
}

// summaryFooter is summaries.bin's footer, decoded: what an opened block
// keeps in memory once a summary was asked for.
type summaryFooter struct {
	strs   []string
	chunks []int64 // offset of each granule's chunk; one more: where the footer starts
}

// decodeSummaryFooter decodes the footer of a summaries.bin of size bytes
// whose last bytes are tail (the footer, its length and the magic), for a
// block of granules granules.
func decodeSummaryFooter(tail []byte, size int64, granules int) (*summaryFooter, error) {
	if len(tail) < 12 || string(tail[len(tail)-4:]) != string(summariesMagic[:]) {
		return nil, fmt.Errorf("%w: summaries: bad magic", ErrCorrupt)
	}
	n := int64(binary.LittleEndian.Uint32(tail[len(tail)-8:]))
	if n < 4 || n > int64(len(tail)-8) {
		return nil, fmt.Errorf("%w: summaries: footer length %d", ErrCorrupt, n)
	}
	body := tail[len(tail)-8-int(n) : len(tail)-12]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(tail[len(tail)-12:]) {
		return nil, fmt.Errorf("%w: summaries: footer checksum mismatch", ErrCorrupt)
	}
	d := &decoder{b: body}
	f := &summaryFooter{strs: make([]string, d.count("summary strings", 1))}
	for i := range f.strs {
		f.strs[i] = d.str("summary string")
	}
	nChunks := d.count("summary chunks", 1)
	if d.err == nil && nChunks != granules {
		d.fail(fmt.Sprintf("summary chunk count %d for %d granules", nChunks, granules))
	}
	if d.err != nil {
		return nil, d.err
	}
	footerAt := size - 8 - n
	off := int64(len(summariesMagic))
	f.chunks = make([]int64, 0, nChunks+1)
	for range nChunks {
		f.chunks = append(f.chunks, off)
		l := d.uvarint("summary chunk length")
		if d.err == nil && (l < 4 || l > uint64(footerAt-off)) {
			d.fail("summary chunk length")
		}
		off += int64(l)
	}
	if d.err == nil && (off != footerAt || len(d.b) != 0) {
		d.fail("summary chunks layout")
	}
	if d.err != nil {
		return nil, d.err
	}
	f.chunks = append(f.chunks, off)
	return f, nil
}

// decodeSummaryChunk decodes one granule's chunk (rows and CRC) against the
// granule's traces.bin entries: one row per entry, in order.
func decodeSummaryChunk(b []byte, strs []string, entries []traceEntry) ([]model.TraceSummary, error) {
	if len(b) < 4 || crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: summaries: chunk checksum mismatch", ErrCorrupt)
	}
	d := &decoder{b: b[:len(b)-4]}
	ref := func(what string) string {
		v := d.uvarint(what)
		if d.err != nil {
			return ""
		}
		if v&1 == 0 {
			if v>>1 >= uint64(len(strs)) {
				d.fail(what)
				return ""
			}
			return strs[v>>1]
		}
		if v>>1 > uint64(len(d.b)) {
			d.fail(what)
			return ""
		}
		return string(d.bytes(what, int(v>>1)))
	}
	out := make([]model.TraceSummary, 0, len(entries))
	for _, e := range entries {
		if d.err != nil {
			break
		}
		s := model.TraceSummary{TraceID: e.id, StartUnixNano: e.start}
		flags := d.uvarint("summary flags")
		if flags > 1 {
			d.fail("summary flags")
		}
		s.HasRoot = flags&1 != 0
		s.RootServiceName = ref("root service")
		s.RootOperationName = ref("root operation")
		s.EndUnixNano = s.StartUnixNano + d.varint("trace duration")
		n := d.count("services", 3)
		if d.err == nil && n == 0 {
			d.fail("service count")
		}
		s.Services = make([]model.ServiceSummary, n)
		rootListed := false
		for i := range s.Services {
			svc := &s.Services[i]
			svc.Name = ref("service")
			spans, errs := d.uvarint("service spans"), d.uvarint("service errors")
			if d.err != nil {
				break
			}
			if spans == 0 || errs > spans || spans > uint64(e.spans) || (i > 0 && s.Services[i-1].Name >= svc.Name) {
				d.fail("service counts")
				break
			}
			svc.SpanCount, svc.ErrorSpanCount = int(spans), int(errs)
			s.SpanCount += svc.SpanCount
			s.ErrorSpanCount += svc.ErrorSpanCount
			rootListed = rootListed || svc.Name == s.RootServiceName
		}
		// Copies of a span are counted once, so a trace may count fewer
		// spans than its rows, never more.
		if d.err == nil && (int64(s.SpanCount) > e.spans || !rootListed) {
			d.fail("trace counts")
		}
		out = append(out, s)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("summary chunk length")
	}
	if d.err != nil {
		return nil, fmt.Errorf("summaries: %w", d.err)
	}
	return out, nil
}

// summaries is a block's summaries.bin, opened and its footer read on
// first use. A result that will not change (decoded, or missing or damaged)
// is kept; a failed read (the bucket, the query's context) is tried again
// by the next caller.
type summaries struct {
	mu     sync.Mutex
	r      objstore.Reader
	footer *summaryFooter
	err    error // permanent: missing or damaged
}

func (bl *Block) summaryFooter(ctx context.Context) (*summaryFooter, objstore.Reader, error) {
	s := &bl.sums
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.footer != nil || s.err != nil {
		return s.footer, s.r, s.err
	}
	if s.r == nil {
		r, err := bl.bucket.Open(ctx, bl.meta.ID+"/"+summariesName)
		if errors.Is(err, objstore.ErrNotExist) {
			s.err = fmt.Errorf("%w: %s missing", ErrNoSummary, summariesName)
			return nil, nil, s.err
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrNoSummary, err)
		}
		s.r = objstore.MarkReads(r)
	}
	size := s.r.Size()
	// The footer holds the string table and a length per granule: a few
	// KiB; read a tail that usually holds all of it, else once more.
	tail := min(size, int64(8<<10))
	for {
		buf := make([]byte, tail)
		if _, err := s.r.ReadAt(ctx, buf, size-tail); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%w: %v", ErrNoSummary, err)
		}
		if tail >= 8 {
			if n := int64(binary.LittleEndian.Uint32(buf[tail-8:])); n+8 > tail && n+8 <= size-int64(len(summariesMagic)) && n <= math.MaxInt32 {
				tail = n + 8
				continue
			}
		}
		f, err := decodeSummaryFooter(buf, size, len(bl.ix.granules))
		if err != nil {
			s.err = fmt.Errorf("%w: %v", ErrNoSummary, err)
			return nil, nil, s.err
		}
		s.footer = f
		return f, s.r, nil
	}
}

// Summary returns the block's summary of a trace: of the trace's spans in
// this block, copies of a span counted once. found is false when the block
// does not hold the trace. An error matching ErrNoSummary means the block
// cannot tell from its index (before v6, or summaries.bin missing or
// damaged): read the trace instead.
func (bl *Block) Summary(ctx context.Context, id model.TraceID) (sum model.TraceSummary, found bool, err error) {
	if bl.ix.version < FormatV6 {
		return sum, false, fmt.Errorf("%w: format v%d", ErrNoSummary, bl.ix.version)
	}
	if !bl.MayContain(id) {
		return sum, false, nil
	}
	gi, entries, err := bl.granuleTraces(ctx, id)
	if err != nil || gi < 0 {
		return sum, false, err
	}
	k := -1
	for i := range entries {
		if entries[i].id == id {
			k = i
			break
		}
	}
	if k < 0 {
		return sum, false, nil
	}
	footer, r, err := bl.summaryFooter(ctx)
	if err != nil {
		return sum, false, err
	}
	from, to := footer.chunks[gi], footer.chunks[gi+1]
	buf := make([]byte, to-from)
	if _, err := r.ReadAt(ctx, buf, from); err != nil {
		return sum, false, fmt.Errorf("%w: %v", ErrNoSummary, err)
	}
	rows, err := decodeSummaryChunk(buf, footer.strs, entries)
	if err != nil {
		return sum, false, fmt.Errorf("%w: block %s granule %d: %v", ErrNoSummary, bl.meta.ID, gi, err)
	}
	return rows[k], true, nil
}
