package logstore

import (
	"sync"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// head holds recent records in memory, in arrival order, until it is cut
// into a block. Only the trace index is kept: trace lookups are the hot path
// (every trace view asks), other searches scan, as a head is small.
type head struct {
	created time.Time

	mu       sync.RWMutex
	recs     []Record
	traces   map[model.TraceID][]int32 // record positions, arrival order
	services map[string]struct{}
	minTime  int64
	maxTime  int64
	bytes    int64
}

// Created is when the head was started; it is cut BlockMaxAge later.
func (h *head) Created() time.Time { return h.created }

func newHead(now time.Time) *head {
	return &head{created: now, traces: map[model.TraceID][]int32{}, services: map[string]struct{}{}}
}

// Add indexes records; the head keeps their attribute slices.
func (h *head) Add(recs []Record) {
	if len(recs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		t := r.Time.UnixNano()
		if len(h.recs) == 0 || t < h.minTime {
			h.minTime = t
		}
		if len(h.recs) == 0 || t > h.maxTime {
			h.maxTime = t
		}
		if !r.TraceID.IsZero() {
			h.traces[r.TraceID] = append(h.traces[r.TraceID], int32(len(h.recs)))
		}
		h.services[r.ServiceName] = struct{}{}
		h.bytes += approxSize(r)
		h.recs = append(h.recs, *r)
	}
}

// Size is the number of records and the memory they hold.
func (h *head) Size() (count int, bytes int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.recs), h.bytes
}

// search calls fn with every record matching m.
func (h *head) search(m *matcher, fn func(*Record)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.recs) == 0 || !m.overlaps(h.minTime, h.maxTime) {
		return
	}
	if m.q.Service != "" {
		if _, ok := h.services[m.q.Service]; !ok {
			return
		}
	}
	if m.q.TraceID != nil {
		for _, i := range h.traces[*m.q.TraceID] {
			if m.match(&h.recs[i]) {
				fn(&h.recs[i])
			}
		}
		return
	}
	for i := range h.recs {
		if m.match(&h.recs[i]) {
			fn(&h.recs[i])
		}
	}
}

func (h *head) countTrace(id model.TraceID) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.traces[id])
}

// records returns a copy of the record slice, for writing a block while
// readers may still be searching the head.
func (h *head) records() []Record {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]Record(nil), h.recs...)
}
