package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/block"
)

// The block lifecycle — WAL, head, cut, upload with retries, levelled
// compaction, retention, refcounted snapshots and deferred deletes, the
// shared bucket, damaged blocks, background replay — is package segment's,
// shared with the log store. This file is the span store's side of it: its
// Format (spans, the head, block.Block) and the adapters that let the read
// path keep its types.

// spanBlock is a block.Block as the lifecycle sees it.
type spanBlock struct{ *block.Block }

func (b *spanBlock) SegmentMeta() segment.Meta { return segMeta(b.Meta()) }

func segMeta(m block.Meta) segment.Meta {
	return segment.Meta{ID: m.ID, MinTime: m.MinStartUnixNano, MaxTime: m.MaxStartUnixNano, End: m.MaxEndUnixNano,
		Count: m.SpanCount, Bytes: m.Bytes, Level: m.CompactionLevel, Compacted: m.Compacted, Created: m.CreatedUnixNano}
}

// The head as the lifecycle sees it.
func (h *head) Add(spans []model.Span)         { h.add(spans) }
func (h *head) Size() (count int, bytes int64) { return h.size() }
func (h *head) Created() time.Time             { return h.created }

// spanFormat is the span store's side of the segment lifecycle.
type spanFormat struct{}

var _ segment.Format[model.Span, *head, *spanBlock] = spanFormat{}

func (f spanFormat) NewHead(now time.Time) *head { return newHead(now) }

func (spanFormat) Decode(rec []byte) ([]model.Span, error) { return decodeRecord(rec) }

func (spanFormat) Write(ctx context.Context, b objstore.Bucket, h *head, level int) (string, error) {
	m, err := block.Write(ctx, b, uniqueSpans(h.spans()), h.edgeList(), level)
	return m.ID, err
}

func (spanFormat) Open(ctx context.Context, b objstore.Bucket, id string) (*spanBlock, error) {
	bl, err := block.Open(ctx, b, id)
	if err != nil {
		return nil, err
	}
	return &spanBlock{bl}, nil
}

func (spanFormat) ReadMeta(ctx context.Context, b objstore.Bucket, id string) (segment.Meta, error) {
	m, err := block.ReadMeta(ctx, b, id)
	if err != nil {
		return segment.Meta{}, err
	}
	return segMeta(m), nil
}

// Compact merges the inputs, dropping spans stored twice.
func (spanFormat) Compact(ctx context.Context, b objstore.Bucket, inputs []*spanBlock, level int) (string, error) {
	blocks := make([]*block.Block, len(inputs))
	for i, in := range inputs {
		blocks[i] = in.Block
	}
	m, err := block.Compact(ctx, b, blocks, level)
	return m.ID, err
}

// Damaged: bytes that do not decode (block.ErrCorrupt, parquet's
// ErrCorrupted: a page checksum mismatch, a bad page header) or a block
// of a format this version cannot read.
func (spanFormat) Damaged(err error) bool {
	return errors.Is(err, block.ErrCorrupt) || errors.Is(err, parquet.ErrCorrupted) ||
		errors.Is(err, block.ErrUnsupportedVersion) || errors.Is(err, segment.ErrDamaged)
}

// Verify reads every row group; the spans of the damaged ones (whole
// traces, as row groups are cut on trace boundaries) are lost.
func (spanFormat) Verify(ctx context.Context, b *spanBlock) ([]model.Span, int, error) {
	damaged, err := b.Verify(ctx)
	if err != nil || len(damaged) == 0 {
		return nil, 0, err
	}
	lost := 0
	for _, i := range damaged {
		lost += int(b.RowGroupRows(i))
	}
	rest, err := b.SpansExcept(ctx, damaged)
	if err != nil {
		return nil, 0, err
	}
	return rest, lost, nil
}

// Salvage reads a meta-less block's spans from its data and index; a
// block whose data cannot be read counts as damaged (moved to quarantine).
func (spanFormat) Salvage(ctx context.Context, b objstore.Bucket, id string) ([]model.Span, error) {
	hasData, err := block.HasData(ctx, b, id)
	if err != nil {
		return nil, err
	}
	if !hasData {
		return nil, fmt.Errorf("block %s: no data: %w", id, fs.ErrNotExist)
	}
	spans, err := block.Salvage(ctx, b, id)
	if err != nil && ctx.Err() == nil {
		// %v: a missing index is damage here, not a block without data.
		return nil, fmt.Errorf("%w: %v", segment.ErrDamaged, err)
	}
	return spans, err
}

// liveBlock is a block of a snapshot as the read path sees it: the block
// itself, the lifecycle's reference to it, and the store (for readBlock).
type liveBlock struct {
	*block.Block
	live  *segment.Live[*spanBlock]
	store *Store
}

// wrapSnapshot turns a lifecycle snapshot into the read path's.
func (s *Store) wrapSnapshot(cs *segment.Snapshot[*head, *spanBlock]) *snapshot {
	snap := &snapshot{heads: cs.Heads, blocks: make([]*liveBlock, len(cs.Blocks)), held: cs, scratches: &s.scratches}
	wrapped := make([]liveBlock, len(cs.Blocks)) // one allocation, not one per block per query
	for i, l := range cs.Blocks {
		wrapped[i] = liveBlock{Block: l.Block.Block, live: l, store: s}
		snap.blocks[i] = &wrapped[i]
	}
	return snap
}

// readBlock runs read against b; a block whose bytes do not decode is
// reported (logged, counted, named in the query's partial.Report, queued
// for verification) and skipped (see segment.Core.ReadBlock).
func (s *Store) readBlock(ctx context.Context, b *liveBlock, read func() error) error {
	return s.core.ReadBlock(ctx, b.live, read)
}

// asDamage marks the error of a block read as damage (segment.ErrDamaged)
// unless the object store failed to deliver the bytes (objstore.ErrRead,
// which a block's readers mark) or ctx ended: bytes that arrived but do
// not decode are damage whatever error the decoder chose for them — a
// damaged page header may decode to an unknown encoding or bad thrift
// rather than a checksum mismatch. Only for errors of the block itself,
// never of a caller's callback.
func asDamage(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, objstore.ErrRead) || errors.Is(err, segment.ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w: %w", segment.ErrDamaged, err)
}
