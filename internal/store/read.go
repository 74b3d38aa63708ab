package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/block"
)

// snapshot is a consistent view of everything readable: the head, heads
// being flushed, and blocks. Its parts are immutable or internally locked.
// It holds a reference to each of its blocks, so they stay open and on
// disk until release, even if compaction or retention replaces them.
type snapshot struct {
	heads  []*head // newest first
	blocks []*liveBlock
	held   *segment.Snapshot[*head, *spanBlock] // the references (lifecycle.go)
	// scratches is the store's pool of *block.Scratch: a search worker
	// takes one for the blocks it scans, so searches reuse row buffers
	// rather than grow new ones every time.
	scratches *sync.Pool
}

func (s *Store) snapshot() *snapshot { return s.wrapSnapshot(s.core.Snapshot(context.Background())) }

// release lets go of the snapshot's blocks. Call it exactly once.
func (snap *snapshot) release() {
	snap.held.Release()
	snap.blocks = nil
}

// Trace returns every stored span of one trace, de-duplicated, ordered by
// start time. It returns no spans and no error for an unknown trace.
func (s *Store) Trace(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	snap := s.snapshot()
	defer snap.release()
	s.notePartial(ctx)
	return snap.trace(ctx, id)
}

func (snap *snapshot) trace(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	var spans []model.Span
	for _, h := range snap.heads {
		spans = h.trace(spans, id)
	}
	for _, b := range snap.blocks {
		if !b.MayContain(id) {
			continue
		}
		var got []model.Span
		if err := b.store.readBlock(ctx, b, func() (err error) { got, err = b.Trace(ctx, id); return asDamage(ctx, err) }); err != nil {
			return nil, fmt.Errorf("block %s: %w", b.Meta().ID, err)
		}
		spans = append(spans, got...)
	}
	return dedupe(spans), nil
}

// Dedupe drops repeated copies of a span and sorts by start time, as
// Trace does; a node merging its own answer with its peers' uses it.
func Dedupe(spans []model.Span) []model.Span { return dedupe(spans) }

// dedupe drops repeated copies of a span (a client that retried a batch the
// store had already acknowledged) and sorts by start time. Two spans with
// one ID but different kinds (Zipkin's shared client/server spans) are kept.
func dedupe(spans []model.Span) []model.Span {
	type key struct {
		id    model.SpanID
		kind  model.SpanKind
		start int64
	}
	seen := make(map[key]struct{}, len(spans))
	out := spans[:0]
	for _, sp := range spans {
		k := key{sp.SpanID, sp.Kind, sp.StartUnixNano}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, sp)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartUnixNano < out[j].StartUnixNano })
	return out
}

// FindTraceIDs returns up to limit IDs of traces with a span matching p, the
// most recently started first. Heads are read first, then blocks newest
// first, several at a time; no block is started once none of the remaining
// ones can change the answer (all started before the limit-th newest match).
// Memory is bounded per query: each reader keeps at most a few times limit
// candidate traces, however many spans match.
func (s *Store) FindTraceIDs(ctx context.Context, p *predicate.Compiled, limit int) ([]model.TraceID, error) {
	found, err := s.find(ctx, p, limit)
	if err != nil {
		return nil, err
	}
	return found.ids(), nil
}

// Match is a trace found by a search: its ID and the start of its newest
// matching span, by which answers are ordered (and merged across nodes).
type Match struct {
	TraceID model.TraceID
	Start   int64 // Unix ns
}

// FindTraces is FindTraceIDs with each trace's newest matching start.
func (s *Store) FindTraces(ctx context.Context, p *predicate.Compiled, limit int) ([]Match, error) {
	found, err := s.find(ctx, p, limit)
	if err != nil {
		return nil, err
	}
	return found.matches(), nil
}

// NewestIDs ranks matches gathered from several sources (a trace at its
// newest start) and returns the limit newest IDs, in the order every search
// answers: newest first, ties by trace ID.
func NewestIDs(matches []Match, limit int) []model.TraceID {
	n := newNewest(limit)
	for _, m := range matches {
		n.add(m.TraceID, m.Start)
	}
	return n.ids()
}

func (s *Store) find(ctx context.Context, p *predicate.Compiled, limit int) (*newest, error) {
	if limit <= 0 {
		limit = 20
	}
	snap := s.snapshot()
	defer snap.release()
	s.notePartial(ctx)
	return snap.find(ctx, p, limit)
}

func (snap *snapshot) find(ctx context.Context, p *predicate.Compiled, limit int) (*newest, error) {
	found := newNewest(limit)
	for _, h := range snap.heads {
		h.scan(p, found.add)
	}
	found.prune()
	blocks := snap.newestFirst()
	probe := block.NewProbe(p)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex // guards found, next, asked, ruledOut, done, firstErr
		next     int
		asked    int                         // blocks[:asked] have been asked RuledOut
		ruledOut = make([]bool, len(blocks)) // by block, up to asked
		done     bool
		firstErr error
		wg       sync.WaitGroup
	)
	// nextBlock hands out the next block in turn that RuledOut does not
	// rule out, or nil when there is none left or every remaining block is
	// older than the answer we have. Blocks are asked RuledOut a run at a
	// time, in one loop with nothing else in it: the CPU then overlaps the
	// cache misses of many blocks' filters, where asking each block
	// everything in turn waits on each block's misses one after the other
	// (at 100 M spans, ruling out 500 blocks: 180–225 µs that way, 65–73 µs
	// for the filter probes alone in one loop). A run is short, so a search
	// answered by its first blocks asks few.
	nextBlock := func() *liveBlock {
		mu.Lock()
		defer mu.Unlock()
		for !done && next < len(blocks) {
			if next == asked {
				end := min(asked+ruleOutRun, len(blocks))
				for i := asked; i < end; i++ {
					ruledOut[i] = blocks[i].RuledOut(probe)
				}
				asked = end
			}
			b, out := blocks[next], ruledOut[next]
			next++
			if th, full := found.threshold(); full && b.maxStart < th {
				done = true
				return nil
			}
			if !out {
				return b.liveBlock
			}
		}
		return nil
	}
	// take hands out the next block worth reading, or nil when there is
	// none. Ruling a block out costs no allocation and no scanner, and
	// runs outside the lock, so the workers rule blocks out side by side:
	// most blocks of a long window end here when the value searched for
	// is rare.
	take := func() *liveBlock {
		for b := nextBlock(); b != nil; b = nextBlock() {
			if b.MayMatch(p) {
				return b
			}
		}
		return nil
	}
	worker := func() {
		defer wg.Done()
		scratch, _ := snap.scratches.Get().(*block.Scratch) // this worker's scans reuse one set of row buffers
		if scratch == nil {
			scratch = new(block.Scratch)
		}
		defer snap.scratches.Put(scratch)
		for b := take(); b != nil; b = take() {
			local := newNewest(limit)
			if err := b.store.readBlock(ctx, b, func() error { return asDamage(ctx, b.ScanWith(ctx, p, scratch, local.add)) }); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("block %s: %w", b.Meta().ID, err)
				}
				done = true
				mu.Unlock()
				cancel()
				return
			}
			mu.Lock()
			found.merge(local)
			mu.Unlock()
		}
	}
	workers := min(runtime.GOMAXPROCS(0), maxQueryReaders, len(blocks))
	wg.Add(workers)
	for range workers {
		go worker()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return found, nil
}

// byStart is a block with its newest span start, read once per search
// rather than from a copy of its meta at every comparison.
type byStart struct {
	*liveBlock
	maxStart int64
}

// newestFirst lists the snapshot's blocks by their newest span start,
// newest first.
func (snap *snapshot) newestFirst() []byStart {
	out := make([]byStart, len(snap.blocks))
	for i, b := range snap.blocks {
		out[i] = byStart{b, b.MaxStart()}
	}
	slices.SortFunc(out, func(a, b byStart) int { return cmp.Compare(b.maxStart, a.maxStart) })
	return out
}

// maxQueryReaders is how many blocks one search reads at once.
const maxQueryReaders = 4

// ruleOutRun is how many blocks a search asks block.RuledOut in one pass.
const ruleOutRun = 32

// newest keeps the newest matching traces: for each trace its latest
// matching span start, trimmed to the limit newest traces (start
// descending, then trace ID) whenever it grows past a few times the limit.
// Trimming is exact: a trace dropped now started before the limit-th newest,
// and that threshold only rises, so it could never come back into the answer
// with an older start.
type newest struct {
	limit int
	best  map[model.TraceID]int64
}

func newNewest(limit int) *newest {
	return &newest{limit: limit, best: make(map[model.TraceID]int64, min(limit, 1024))}
}

func (n *newest) add(id model.TraceID, start int64) bool {
	if cur, ok := n.best[id]; !ok || start > cur {
		n.best[id] = start
		if len(n.best) > 8*n.limit+1024 {
			n.prune()
		}
	}
	return true
}

func (n *newest) merge(o *newest) {
	for id, st := range o.best {
		if cur, ok := n.best[id]; !ok || st > cur {
			n.best[id] = st
		}
	}
	n.prune()
}

func (n *newest) sorted() []model.TraceID {
	// Sorting (ID, start) pairs, not IDs looked up in the map at every
	// comparison: prune runs this on every few thousand matches.
	type entry struct {
		id    model.TraceID
		start int64
	}
	entries := make([]entry, 0, len(n.best))
	for id, st := range n.best {
		entries = append(entries, entry{id, st})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.start != b.start {
			return cmp.Compare(b.start, a.start)
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	ids := make([]model.TraceID, len(entries))
	for i := range entries {
		ids[i] = entries[i].id
	}
	return ids
}

// prune keeps the limit newest traces.
func (n *newest) prune() {
	if len(n.best) <= n.limit {
		return
	}
	for _, id := range n.sorted()[n.limit:] {
		delete(n.best, id)
	}
}

// threshold is the start of the limit-th newest trace, once there are that
// many (call after prune).
func (n *newest) threshold() (int64, bool) {
	if len(n.best) < n.limit {
		return 0, false
	}
	th := int64(math.MaxInt64)
	for _, st := range n.best {
		th = min(th, st)
	}
	return th, true
}

func (n *newest) matches() []Match {
	ids := n.ids()
	out := make([]Match, len(ids))
	for i, id := range ids {
		out[i] = Match{TraceID: id, Start: n.best[id]}
	}
	return out
}

func (n *newest) ids() []model.TraceID {
	ids := n.sorted()
	if len(ids) > n.limit {
		ids = ids[:n.limit]
	}
	return ids
}

// Operations returns every service with the operations seen for it.
func (s *Store) Operations(ctx context.Context) (map[string][]block.OperationInfo, error) {
	snap := s.snapshot()
	defer snap.release()
	s.notePartial(ctx)
	return snap.operations(), nil
}

func (snap *snapshot) operations() map[string][]block.OperationInfo {
	all := block.OperationSet{}
	for _, h := range snap.heads {
		h.operations(all)
	}
	for _, b := range snap.blocks {
		all.AddAll(b.Meta().Operations)
	}
	return all.Sorted()
}

// Dependencies sums the service edges (parent span's service → child
// span's service) whose child span starts inside [from, to], as Jaeger
// counts them. A block whose spans all start inside contributes the edges
// in its meta; one that straddles an end of the window is read and its
// spans counted one by one; heads are always counted span by span.
func (s *Store) Dependencies(ctx context.Context, from, to time.Time) ([]block.Edge, error) {
	snap := s.snapshot()
	defer snap.release()
	s.notePartial(ctx)
	sources, err := snap.dependencies(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return SumEdges(sources), nil
}

// EdgeSource is the service-graph edges of one head or block.
type EdgeSource struct {
	Block string       `json:"block,omitempty"` // the block's ID; empty for a head
	Edges []block.Edge `json:"edges"`
}

// dependencies lists the edges inside [from, to] by source: a node merging
// its peers' answers must count a block that it and a peer both hold only
// once.
func (snap *snapshot) dependencies(ctx context.Context, from, to time.Time) ([]EdgeSource, error) {
	lo, hi := from.UnixNano(), to.UnixNano()
	var out []EdgeSource
	for _, h := range snap.heads {
		if minStart, maxEnd := h.timeRange(); maxEnd >= lo && minStart <= hi {
			out = append(out, EdgeSource{Edges: windowEdges(h.spans(), lo, hi)})
		}
	}
	for _, b := range snap.blocks {
		m := b.Meta()
		switch {
		case m.MaxStartUnixNano < lo || m.MinStartUnixNano > hi:
		case m.MinStartUnixNano >= lo && m.MaxStartUnixNano <= hi:
			out = append(out, EdgeSource{Block: m.ID, Edges: m.Edges})
		default:
			var spans []model.Span
			if err := b.store.readBlock(ctx, b, func() (err error) { spans, err = b.All(ctx); return asDamage(ctx, err) }); err != nil {
				return nil, fmt.Errorf("dependencies: %w", err)
			}
			out = append(out, EdgeSource{Block: m.ID, Edges: windowEdges(spans, lo, hi)})
		}
	}
	return out, nil
}

// SumEdges adds up the edges of several sources, sorted by parent, child.
func SumEdges(sources []EdgeSource) []block.Edge {
	sum := map[[2]string]*block.Edge{}
	for _, src := range sources {
		for _, e := range src.Edges {
			k := [2]string{e.Parent, e.Child}
			if cur := sum[k]; cur != nil {
				cur.Calls += e.Calls
				cur.Errors += e.Errors
			} else {
				e := e
				sum[k] = &e
			}
		}
	}
	out := make([]block.Edge, 0, len(sum))
	for _, e := range sum {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Parent != out[j].Parent {
			return out[i].Parent < out[j].Parent
		}
		return out[i].Child < out[j].Child
	})
	return out
}

// Traces reads several traces at once and calls fn with each one's spans,
// de-duplicated and ordered as Trace gives them, in the order of ids
// (traces the store does not hold get no call; an ID given twice, one).
// Each block is read once for all the IDs it may hold, the traces of one
// row group together (block.Block.Traces), several blocks at a time: a
// search evaluating many candidate traces reads them so, not one by one.
func (s *Store) Traces(ctx context.Context, ids []model.TraceID, fn func(id model.TraceID, spans []model.Span) error) error {
	snap := s.snapshot()
	defer snap.release()
	s.notePartial(ctx)
	found := make(map[model.TraceID][]model.Span, len(ids))
	for _, h := range snap.heads {
		for _, id := range ids {
			if spans := h.trace(found[id], id); len(spans) > 0 {
				found[id] = spans
			}
		}
	}
	type job struct {
		b   *liveBlock
		ids []model.TraceID
	}
	var jobs []job
	for _, b := range snap.blocks {
		var in []model.TraceID
		for _, id := range ids {
			if b.MayContain(id) {
				in = append(in, id)
			}
		}
		if len(in) > 0 {
			jobs = append(jobs, job{b, in})
		}
	}
	var mu sync.Mutex // guards found
	err := forEach(ctx, len(jobs), min(runtime.GOMAXPROCS(0), maxQueryReaders), func(ctx context.Context, i int) error {
		j := jobs[i]
		err := j.b.store.readBlock(ctx, j.b, func() error {
			return asDamage(ctx, j.b.Traces(ctx, j.ids, func(id model.TraceID, spans []model.Span) error {
				mu.Lock()
				found[id] = append(found[id], spans...)
				mu.Unlock()
				return nil
			}))
		})
		if err != nil {
			return fmt.Errorf("block %s: %w", j.b.Meta().ID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		spans, ok := found[id]
		if !ok {
			continue
		}
		delete(found, id)
		if err := fn(id, dedupe(spans)); err != nil {
			return err
		}
	}
	return nil
}
