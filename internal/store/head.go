package store

import (
	"sync"
	"time"

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
}

type spanRef struct{ batch, idx uint32 }

func newHead(now time.Time) *head {
	return &head{
		created: now,
		traces:  map[model.TraceID][]spanRef{},
		ops:     map[string]map[block.OperationInfo]struct{}{},
		edges:   newEdgeTracker(),
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
		}
		s.Name = h.interner.str(s.Name)
		for j := range s.Attributes {
			s.Attributes[j].Key = h.interner.str(s.Attributes[j].Key)
		}
		h.traces[s.TraceID] = append(h.traces[s.TraceID], spanRef{b, uint32(i)})
		svc := s.Service()
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

// approxSize estimates a span's memory: the struct plus its variable parts.
func approxSize(s *model.Span) int64 {
	n := 256 + len(s.Name) + len(s.StatusMessage) + len(s.TraceState)
	for _, a := range s.Attributes {
		n += 64 + len(a.Value.Str)
	}
	for _, e := range s.Events {
		n += 64 + len(e.Name)
		for _, a := range e.Attributes {
			n += 64 + len(a.Value.Str)
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

// scan calls fn for every span matching p, newest batches first; fn returns
// false to stop.
func (h *head) scan(p *predicate.Compiled, fn func(id model.TraceID, start int64) bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.count == 0 || p.Never() || !p.OverlapsStart(h.minStart, h.maxStart) {
		return
	}
	if svc := p.Predicate().Service; svc != "" {
		if _, ok := h.ops[svc]; !ok {
			return
		}
	}
	for b := len(h.batches) - 1; b >= 0; b-- {
		batch := h.batches[b]
		for i := range batch {
			if p.Match(&batch[i]) && !fn(batch[i].TraceID, batch[i].StartUnixNano) {
				return
			}
		}
	}
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
