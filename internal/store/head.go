package store

import (
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
	ops      map[string]map[block.OperationInfo]struct{} // service -> operations
	count    int
	bytes    int64 // rough in-memory size, for cut decisions and backpressure
	minStart int64
	maxStart int64
	maxEnd   int64
	edges    edgeTracker
	interner interner
	// postings lists, oldest first, the spans of each service, each
	// operation (span name) and each span or event attribute key=value
	// (see postingKey). A search walks the shortest list every match must
	// be on, not every span. resourcePairs holds the key=value pairs of
	// resource attributes: a condition one of them may satisfy cannot use
	// the span postings.
	postings      map[uint64][]spanRef
	resourcePairs map[uint64]struct{}
}

type spanRef struct{ batch, idx uint32 }

func newHead(now time.Time) *head {
	return &head{
		created:       now,
		traces:        map[model.TraceID][]spanRef{},
		postings:      map[uint64][]spanRef{},
		resourcePairs: map[uint64]struct{}{},
		ops:           map[string]map[block.OperationInfo]struct{}{},
		edges:         newEdgeTracker(),
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
	for i := range spans {
		s := &spans[i]
		// Share the strings every span repeats, so a head of a million spans
		// does not hold a million copies of "GET /api/orders".
		if s.Resource != lastRes {
			h.interner.resource(s.Resource)
			lastRes = s.Resource
			if s.Resource != nil {
				for _, a := range s.Resource.Attributes {
					h.resourcePairs[postingKey(postingAttr, a.Key, a.Value.String())] = struct{}{}
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
		h.post(postingKey(postingService, svc, ""), ref)
		h.post(postingKey(postingOperation, s.Name, ""), ref)
		for j := range s.Attributes {
			h.post(postingKey(postingAttr, s.Attributes[j].Key, s.Attributes[j].Value.String()), ref)
		}
		for _, e := range s.Events {
			for j := range e.Attributes {
				h.post(postingKey(postingAttr, e.Attributes[j].Key, e.Attributes[j].Value.String()), ref)
			}
		}
		opset := h.ops[svc]
		if opset == nil {
			opset = map[block.OperationInfo]struct{}{}
			h.ops[svc] = opset
		}
		opset[block.OperationInfo{Name: s.Name, Kind: int(s.Kind)}] = struct{}{}
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
}

// Kinds of posting lists, mixed into the key's hash.
const (
	postingService = iota + 1
	postingOperation
	postingAttr
)

// postingKey is the hash of one posting list. Two lists that collide are
// merged, which costs a search extra candidates but never a match: every
// candidate is checked with the predicate.
func postingKey(kind byte, a, b string) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write([]byte{kind})
	_, _ = d.WriteString(a)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(b)
	return d.Sum64()
}

// post adds ref to a posting list once, however many of the span's
// attributes (or colliding keys) lead there: a span's postings are added
// together, so a repeat is always the list's last entry.
func (h *head) post(key uint64, ref spanRef) {
	l := h.postings[key]
	if n := len(l); n > 0 && l[n-1] == ref {
		return
	}
	h.postings[key] = append(l, ref)
}

// approxSize estimates a span's memory: the struct plus its variable parts
// (a posting entry, ~16 bytes, per name, service and attribute included).
func approxSize(s *model.Span) int64 {
	n := 256 + 32 + len(s.Name) + len(s.StatusMessage) + len(s.TraceState)
	for _, a := range s.Attributes {
		n += 80 + len(a.Value.Str)
	}
	for _, e := range s.Events {
		n += 64 + len(e.Name)
		for _, a := range e.Attributes {
			n += 80 + len(a.Value.Str)
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
// to stop. It returns how many spans it evaluated. When p names a service,
// an operation or an attribute value that only span and event attributes can
// hold, only the shortest of those posting lists is evaluated; a predicate
// with none of them (time and duration alone) evaluates every span.
func (h *head) scan(p *predicate.Compiled, fn func(id model.TraceID, start int64) bool) (evaluated int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.count == 0 || p.Never() || !p.OverlapsStart(h.minStart, h.maxStart) {
		return 0
	}
	refs, indexed := h.candidates(p)
	if indexed {
		for i := len(refs) - 1; i >= 0; i-- {
			s := &h.batches[refs[i].batch][refs[i].idx]
			evaluated++
			if p.Match(s) && !fn(s.TraceID, s.StartUnixNano) {
				break
			}
		}
		return evaluated
	}
	for b := len(h.batches) - 1; b >= 0; b-- {
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

// candidates returns the shortest posting list that holds every span p can
// match, and false when p has no condition a posting list answers.
// Caller holds h.mu.
func (h *head) candidates(p *predicate.Compiled) ([]spanRef, bool) {
	var best []spanRef
	found := false
	consider := func(key uint64) {
		l := h.postings[key]
		if !found || len(l) < len(best) {
			best, found = l, true
		}
	}
	pr := p.Predicate()
	if pr.Service != "" {
		consider(postingKey(postingService, pr.Service, ""))
	}
	if pr.Operation != "" {
		consider(postingKey(postingOperation, pr.Operation, ""))
	}
	for i, a := range p.Attrs() {
		if p.ErrorBits()&(1<<i) != 0 {
			continue // an error status satisfies it too
		}
		key := postingKey(postingAttr, a.Key, a.Value)
		if _, onResource := h.resourcePairs[key]; onResource {
			continue // a resource attribute may satisfy it
		}
		consider(key)
	}
	return best, found
}

// services adds the head's services and operations to dst.
func (h *head) operations(dst map[string]map[block.OperationInfo]struct{}) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for svc, ops := range h.ops {
		d := dst[svc]
		if d == nil {
			d = map[block.OperationInfo]struct{}{}
			dst[svc] = d
		}
		for op := range ops {
			d[op] = struct{}{}
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
