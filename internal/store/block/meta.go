package block

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/clewtrace/clew/internal/objstore"
)

// Format versions. One ordered enum that only moves forward: a reader
// supports every version up to FormatLatest, a writer writes FormatLatest.
const (
	FormatV1     = 1  // Parquet data + binary index + meta.json
	FormatV2     = 2  // v1 + a key=value bloom filter per row group in index.bin
	FormatV3     = 3  // v2 + traces.bin (trace ID -> rows), rare fields folded into one column
	FormatV4     = 4  // v3 without the trace_id and trace_start columns: traces.bin has them
	FormatV5     = 5  // v4 + postings in index.bin: terms per row group, long spans
	FormatV6     = 6  // v5 + summaries.bin: a summary row per trace
	FormatV7     = 7  // v6 + filters.bin (row-group key=value filters, on disk); index.bin: one key=value filter per block, blocked trace filter
	FormatV8     = 8  // v7 + 16 dedicated attribute columns (d10-d15), was 10
	FormatV9     = 9  // v8 + filters.bin version 2 (a checksum per 4 KiB page of each row group's filter); sharper filters
	FormatV10    = 10 // v9 with index.bin's key=value and trace-ID filters as binary fuse filters
	FormatLatest = FormatV10
)

// ErrUnsupportedVersion is returned for blocks written by a newer Clew.
var ErrUnsupportedVersion = errors.New("block: unsupported format version")

// Object names inside a block's prefix. meta.json is written last: its
// presence is what makes a block complete.
const (
	metaName  = "meta.json"
	dataName  = "data.parquet"
	indexName = "index.bin"
	// tracesName (v3) is the trace index: for each trace its span count
	// and start, so a trace read knows its exact rows. It is read a
	// granule at a time, never whole.
	tracesName = "traces.bin"
)

// Meta describes a block. It is stored as meta.json, the block's commit
// marker, and is enough to decide whether a query needs to open the block.
type Meta struct {
	ID               string                     `json:"id"`
	Version          int                        `json:"version"`
	MinStartUnixNano int64                      `json:"minStartUnixNano"`
	MaxStartUnixNano int64                      `json:"maxStartUnixNano"`
	MaxEndUnixNano   int64                      `json:"maxEndUnixNano"`
	SpanCount        int                        `json:"spanCount"`
	TraceCount       int                        `json:"traceCount"`
	Services         []string                   `json:"services"`
	Operations       map[string][]OperationInfo `json:"operations"`
	Bytes            int64                      `json:"bytes"` // data + index objects
	CompactionLevel  int                        `json:"compactionLevel"`
	// Compacted lists every block this one was merged from, directly or
	// through intermediate merges: a block listed here by another complete
	// block is a left-over input and is deleted at open.
	Compacted       []string `json:"compacted,omitempty"`
	Edges           []Edge   `json:"edges,omitempty"`
	CreatedUnixNano int64    `json:"createdUnixNano"`
	// FilterLinks says the row groups' value filters hold the key=value
	// pairs of link attributes too (blocks written since link attributes
	// are searchable). A block without it has only span and event pairs
	// there; since a link attribute may satisfy any condition, a search
	// does not skip its row groups by their filters.
	FilterLinks bool `json:"filterLinks,omitempty"`
}

// OperationInfo is one operation (span name) of a service, with its kind.
type OperationInfo struct {
	Name string `json:"name"`
	Kind int    `json:"kind"`
}

// OperationSet collects each service's operations without duplicates; the
// block writer, the store's heads and a node merging its peers' answers all
// fill one and hand out its Sorted form.
type OperationSet map[string]map[OperationInfo]struct{}

// Add records ops for the service svc.
func (s OperationSet) Add(svc string, ops ...OperationInfo) {
	set := s[svc]
	if set == nil {
		set = map[OperationInfo]struct{}{}
		s[svc] = set
	}
	for _, op := range ops {
		set[op] = struct{}{}
	}
}

// AddAll records every service's operations of other.
func (s OperationSet) AddAll(other map[string][]OperationInfo) {
	for svc, ops := range other {
		s.Add(svc, ops...)
	}
}

// Sorted returns each service's operations ordered by name, then kind.
func (s OperationSet) Sorted() map[string][]OperationInfo {
	out := make(map[string][]OperationInfo, len(s))
	for svc, ops := range s {
		list := make([]OperationInfo, 0, len(ops))
		for op := range ops {
			list = append(list, op)
		}
		slices.SortFunc(list, func(a, b OperationInfo) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
		})
		out[svc] = list
	}
	return out
}

// Edge is a service-graph edge computed by the writer's caller; blocks only
// carry them so the graph survives restarts and compaction.
type Edge struct {
	Parent string `json:"parent"`
	Child  string `json:"child"`
	Calls  uint64 `json:"calls"`
	Errors uint64 `json:"errors"`
}

// validID accepts IDs that are safe as a single object-name segment.
func validID(id string) bool {
	return id != "" && !strings.ContainsAny(id, "/\\.") && objstore.ValidName(id)
}

func decodeMeta(data []byte) (Meta, error) {
	var m Meta
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Meta{}, fmt.Errorf("%w: meta: %v", ErrCorrupt, err)
	}
	if m.Version < FormatV1 || m.Version > FormatLatest {
		return Meta{}, fmt.Errorf("meta %s: %w %d", m.ID, ErrUnsupportedVersion, m.Version)
	}
	if !validID(m.ID) || m.SpanCount < 0 || m.TraceCount < 0 {
		return Meta{}, fmt.Errorf("%w: meta: bad id or counts", ErrCorrupt)
	}
	return m, nil
}

func readMeta(ctx context.Context, b objstore.Bucket, id string) (Meta, error) {
	data, err := objstore.ReadAll(ctx, b, id+"/"+metaName)
	if err != nil {
		return Meta{}, fmt.Errorf("block %s: %w", id, err)
	}
	m, err := decodeMeta(data)
	if err != nil {
		return Meta{}, fmt.Errorf("block %s: %w", id, err)
	}
	if m.ID != id {
		return Meta{}, fmt.Errorf("block %s: %w: meta names block %q", id, ErrCorrupt, m.ID)
	}
	return m, nil
}

// ListMetas returns the metas of all complete blocks (those with a
// meta.json), oldest ID first. Incomplete blocks are skipped; Incomplete
// finds them for garbage collection. A damaged meta.json is an error here;
// ListMetasSkippingDamaged lists around it.
func ListMetas(ctx context.Context, b objstore.Bucket) ([]Meta, error) {
	metas, damaged, err := ListMetasSkippingDamaged(ctx, b)
	if err != nil {
		return nil, err
	}
	if len(damaged) > 0 {
		return nil, fmt.Errorf("block %s: %w: unreadable meta.json", damaged[0], ErrCorrupt)
	}
	return metas, nil
}

// Incomplete returns the IDs of blocks that have objects but no meta.json:
// writes that crashed, or deletes that stopped half-way. A caller should
// only delete those older than any write that may still be in progress.
func Incomplete(ctx context.Context, b objstore.Bucket) ([]string, error) {
	seen := map[string]bool{}
	var order []string
	err := b.List(ctx, "", func(name string) error {
		id, obj, ok := strings.Cut(name, "/")
		if !ok || !validID(id) || strings.Contains(obj, "/") {
			return nil // not a block's object (e.g. quarantine/<id>/...)
		}
		if _, dup := seen[id]; !dup {
			order = append(order, id)
			seen[id] = false
		}
		if obj == metaName {
			seen[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	var out []string
	for _, id := range order {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// Delete removes a block: meta.json first, so that a crash half-way leaves an
// incomplete block (ignored, collectable) rather than a broken complete one.
func Delete(ctx context.Context, b objstore.Bucket, id string) error {
	if !validID(id) {
		return fmt.Errorf("delete block %q: invalid ID", id)
	}
	if err := b.Delete(ctx, id+"/"+metaName); err != nil {
		return fmt.Errorf("delete block %s: %w", id, err)
	}
	var names []string
	if err := b.List(ctx, id+"/", func(n string) error { names = append(names, n); return nil }); err != nil {
		return fmt.Errorf("delete block %s: %w", id, err)
	}
	for _, n := range names {
		if err := b.Delete(ctx, n); err != nil {
			return fmt.Errorf("delete block %s: %w", id, err)
		}
	}
	return nil
}
