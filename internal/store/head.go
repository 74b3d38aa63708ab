package store

import (
	"math/bits"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
)

// head holds recent spans in memory, indexed by trace ID, until it is cut
// into a block. Spans are stored in the batches they arrived in; a spanRef
// addresses one span.
type head struct {
	created time.Time

	mu       sync.RWMutex
	batches  [][]model.Span
	traces   map[model.TraceID][]spanRef
	ops      block.OperationSet
	count    int
	bytes    int64 // rough in-memory size, for cut decisions and backpressure
	minStart int64
	maxStart int64
	maxEnd   int64
	edges    edgeTracker
	interner interner
	// Search indexes. bySvc and byOp list, oldest first, the spans of each
	// service and each operation (span name): a search naming one walks
	// that list, not every span. filters holds, per batch, a bloom filter
	// of the key=value pairs of its span, event and link attributes, built
	// by the first search that needs it: a search for a value skips every
	// batch whose filter rules it out. Postings per attribute value were
	// measured first and made adding a span 3-5 times dearer (a map append
	// per attribute); even hashing the attributes when a batch arrives
	// doubled it, so ingest pays nothing for them. sharedPairs holds the
	// pairs of resource and scope attributes (and the scope's name and
	// version as predicate.ScopeNameKey/ScopeVersionKey): a condition one
	// of them may satisfy cannot use the filters.
	bySvc       map[string][]spanRef
	byOp        map[string][]spanRef
	filters     []*lazyFilter
	sharedPairs map[uint64]struct{}
}

// lazyFilter is a batch's pair filter, built once on first use.
type lazyFilter struct {
	once sync.Once
	f    pairFilter
}

func (l *lazyFilter) get(batch []model.Span) pairFilter {
	l.once.Do(func() {
		var hashes []uint64
		var text []byte
		for i := range batch {
			for j := range batch[i].Attributes {
				hashes = append(hashes, attrHash(&batch[i].Attributes[j], &text))
			}
			for _, e := range batch[i].Events {
				for j := range e.Attributes {
					hashes = append(hashes, attrHash(&e.Attributes[j], &text))
				}
			}
			for _, l := range batch[i].Links {
				for j := range l.Attributes {
					hashes = append(hashes, attrHash(&l.Attributes[j], &text))
				}
			}
		}
		l.f = newPairFilter(hashes)
	})
	return l.f
}

type spanRef struct{ batch, idx uint32 }

func newHead(now time.Time) *head {
	return &head{
		created:     now,
		traces:      map[model.TraceID][]spanRef{},
		bySvc:       map[string][]spanRef{},
		byOp:        map[string][]spanRef{},
		sharedPairs: map[uint64]struct{}{},
		ops:         block.OperationSet{},
		edges:       newEdgeTracker(),
	}
}

// add indexes a batch. The head keeps the slice; the caller must not reuse it.
func (h *head) add(spans []model.Span) {
	if len(spans) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b := uint32(len(h.batches))
	h.batches = append(h.batches, spans)
	var lastRes *model.Resource
	var lastScope *model.Scope
	var text []byte
	for i := range spans {
		s := &spans[i]
		// Share the strings every span repeats, so a head of a million spans
		// does not hold a million copies of "GET /api/orders".
		if s.Resource != lastRes {
			h.interner.resource(s.Resource)
			lastRes = s.Resource
			if s.Resource != nil {
				for _, a := range s.Resource.Attributes {
					h.sharedPairs[attrHash(&a, &text)] = struct{}{}
				}
			}
		}
		if s.Scope != lastScope {
			lastScope = s.Scope
			if sc := s.Scope; sc != nil {
				for _, a := range sc.Attributes {
					h.sharedPairs[attrHash(&a, &text)] = struct{}{}
				}
				if sc.Name != "" {
					h.sharedPairs[pairHash(predicate.ScopeNameKey, []byte(sc.Name))] = struct{}{}
				}
				if sc.Version != "" {
					h.sharedPairs[pairHash(predicate.ScopeVersionKey, []byte(sc.Version))] = struct{}{}
				}
			}
		}
		s.Name = h.interner.str(s.Name)
		for j := range s.Attributes {
			s.Attributes[j].Key = h.interner.str(s.Attributes[j].Key)
		}
		ref := spanRef{b, uint32(i)}
		h.traces[s.TraceID] = append(h.traces[s.TraceID], ref)
		svc := s.Service()
		h.bySvc[svc] = append(h.bySvc[svc], ref)
		h.byOp[s.Name] = append(h.byOp[s.Name], ref)

		h.ops.Add(svc, block.OperationInfo{Name: s.Name, Kind: int(s.Kind)})
		if h.count == 0 || s.StartUnixNano < h.minStart {
			h.minStart = s.StartUnixNano
		}
		if s.StartUnixNano > h.maxStart {
			h.maxStart = s.StartUnixNano
		}
		if s.EndUnixNano > h.maxEnd {
			h.maxEnd = s.EndUnixNano
		}
		h.count++
		h.bytes += approxSize(s)
		h.edges.add(s)
	}
	h.filters = append(h.filters, &lazyFilter{})
}

// pairHash is the hash of one attribute key=value pair, the value as its
// Value.String() text (what search compares).
func pairHash(key string, text []byte) uint64 {
	return bits.RotateLeft64(xxhash.Sum64String(key), 31)*0x9E3779B97F4A7C15 ^ xxhash.Sum64(text)
}

// attrHash is pairHash of an attribute, without allocating for the
// common value types (text is scratch space).
func attrHash(a *model.Attribute, text *[]byte) uint64 {
	switch a.Value.Type {
	case model.ValueString:
		*text = append((*text)[:0], a.Value.Str...)
	case model.ValueInt:
		*text = strconv.AppendInt((*text)[:0], a.Value.Int, 10)
	default:
		*text = append((*text)[:0], a.Value.String()...)
	}
	return pairHash(a.Key, *text)
}

// pairFilter is a bloom filter over pair hashes (k = 4).
type pairFilter []uint64

// newPairFilter sizes the filter by the hashes given, repeats included
// (sorting them out cost more than the rest of adding a batch): 6 bits
// per attribute, which is ~10 per distinct pair when values repeat.
func newPairFilter(hashes []uint64) pairFilter {
	f := make(pairFilter, (max(64, len(hashes)*6)+63)/64)
	for _, h := range hashes {
		f.positions(h, func(w int, bit uint64) bool { f[w] |= bit; return true })
	}
	return f
}

func (f pairFilter) positions(h uint64, fn func(word int, bit uint64) bool) bool {
	m := uint64(len(f)) * 64
	h2 := h>>32 | h<<32 | 1
	for i := range uint64(4) {
		b := (h + i*h2) % m
		if !fn(int(b/64), 1<<(b%64)) {
			return false
		}
	}
	return true
}

func (f pairFilter) mayContain(h uint64) bool {
	return f.positions(h, func(w int, bit uint64) bool { return f[w]&bit != 0 })
}

// approxSize estimates a span's memory: the struct plus its variable parts
// (its two posting entries and its share of the batch filter included).
// The filter is ~6 bits per attribute.
func approxSize(s *model.Span) int64 {
	n := 256 + 16 + len(s.Name) + len(s.StatusMessage) + len(s.TraceState)
	for _, a := range s.Attributes {
		n += 66 + len(a.Value.Str)
	}
	for _, e := range s.Events {
		n += 64 + len(e.Name)
		for _, a := range e.Attributes {
			n += 66 + len(a.Value.Str)
		}
	}
	n += len(s.Links) * 96
	return int64(n)
}

func (h *head) size() (count int, bytes int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.count, h.bytes
}

// trace appends the head's spans of one trace to dst.
func (h *head) trace(dst []model.Span, id model.TraceID) []model.Span {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, r := range h.traces[id] {
		dst = append(dst, h.batches[r.batch][r.idx])
	}
	return dst
}

// scan calls fn for every span matching p, newest first; fn returns false
// to stop. It returns how many spans it evaluated: when p names a service
// or an operation, only the spans on the shorter of those posting lists;
// otherwise, when p has an attribute condition that only span, event and
// link attributes can satisfy, only the spans of batches whose filter may
// hold it; a predicate with none of these (time and duration alone, or only
// conditions a resource, a scope or an error status may satisfy) evaluates
// every span.
func (h *head) scan(p *predicate.Compiled, fn func(id model.TraceID, start int64) bool) (evaluated int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.count == 0 || p.Never() || !p.OverlapsStart(h.minStart, h.maxStart) {
		return 0
	}
	var need []uint64 // pair hashes every match has in its span, event or link attributes
	for i, a := range p.Attrs() {
		if p.ErrorBits()&(1<<i) != 0 {
			continue // an error status satisfies it too
		}
		key := pairHash(a.Key, []byte(a.Value))
		if _, shared := h.sharedPairs[key]; shared {
			continue // a resource or scope may satisfy it
		}
		need = append(need, key)
	}
	batchMay := func(b uint32) bool {
		for _, k := range need {
			if !h.filters[b].get(h.batches[b]).mayContain(k) {
				return false
			}
		}
		return true
	}
	if refs, ok := h.postingList(p); ok {
		for i := len(refs) - 1; i >= 0; i-- {
			r := refs[i]
			if len(need) > 0 && !batchMay(r.batch) {
				continue
			}
			s := &h.batches[r.batch][r.idx]
			evaluated++
			if p.Match(s) && !fn(s.TraceID, s.StartUnixNano) {
				break
			}
		}
		return evaluated
	}
	for b := len(h.batches) - 1; b >= 0; b-- {
		if len(need) > 0 && !batchMay(uint32(b)) {
			continue
		}
		batch := h.batches[b]
		for i := range batch {
			evaluated++
			if p.Match(&batch[i]) && !fn(batch[i].TraceID, batch[i].StartUnixNano) {
				return evaluated
			}
		}
	}
	return evaluated
}

// postingList returns the shorter of the service and operation posting
// lists p allows, and false when p names neither. Caller holds h.mu.
func (h *head) postingList(p *predicate.Compiled) ([]spanRef, bool) {
	pr := p.Predicate()
	switch {
	case pr.Service != "" && pr.Operation != "":
		a, b := h.bySvc[pr.Service], h.byOp[pr.Operation]
		if len(b) < len(a) {
			return b, true
		}
		return a, true
	case pr.Service != "":
		return h.bySvc[pr.Service], true
	case pr.Operation != "":
		return h.byOp[pr.Operation], true
	}
	return nil, false
}

// operations adds the head's services and operations to dst.
func (h *head) operations(dst block.OperationSet) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for svc, ops := range h.ops {
		for op := range ops {
			dst.Add(svc, op)
		}
	}
}

// spans returns a copy of every span, for writing a block (the block writer
// reorders its input, and readers may still be scanning the head).
func (h *head) spans() []model.Span {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]model.Span, 0, h.count)
	for _, b := range h.batches {
		out = append(out, b...)
	}
	return out
}

func (h *head) timeRange() (minStart, maxEnd int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.minStart, h.maxEnd
}

func (h *head) edgeList() []block.Edge {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.edges.list()
}

// interner de-duplicates strings within one head. Guarded by head.mu.
type interner struct {
	strs map[string]string
}

// maxInterned bounds the table so high-cardinality values cannot grow it
// without limit; past it strings are kept as they are.
const maxInterned = 1 << 16

func (in *interner) str(s string) string {
	if in.strs == nil {
		in.strs = make(map[string]string, 1024)
	}
	if v, ok := in.strs[s]; ok {
		return v
	}
	if len(in.strs) < maxInterned && len(s) <= 256 {
		in.strs[s] = s
	}
	return s
}

func (in *interner) resource(r *model.Resource) {
	if r == nil {
		return
	}
	r.ServiceName = in.str(r.ServiceName)
	for j := range r.Attributes {
		r.Attributes[j].Key = in.str(r.Attributes[j].Key)
		if r.Attributes[j].Value.Type == model.ValueString {
			r.Attributes[j].Value.Str = in.str(r.Attributes[j].Value.Str)
		}
	}
}
