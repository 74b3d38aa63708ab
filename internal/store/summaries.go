package store

import (
	"context"
	"errors"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/store/block"
)

// TraceSummaries returns the summaries of the traces ids, in their order,
// leaving out traces no longer stored (expired since a search found them).
// A trace held by one block alone is summarised from that block's summary
// row (format v6: one small read, no spans decoded); a trace held only by
// heads is summarised from the head's spans, which are in memory. A trace
// held by several sources (a head and a block, or blocks: a trace cut by a
// head boundary, or a retried batch), or by a block without usable summary
// rows (older than v6, summaries.bin missing or damaged), is read whole and
// summarised from its de-duplicated spans, exactly as before: partial
// summaries cannot be added up, since a span stored twice must count once
// and the root may be another part's parent.
func (s *Store) TraceSummaries(ctx context.Context, ids []model.TraceID) ([]model.TraceSummary, error) {
	snap := s.snapshot()
	defer snap.release()
	s.notePartial(ctx)
	// A few traces at a time: on an object store each summary is two
	// small reads, which would otherwise queue one behind the other.
	type result struct {
		sum  model.TraceSummary
		from int
		ok   bool
	}
	results := make([]result, len(ids))
	err := forEach(ctx, len(ids), summaryReaders, func(ctx context.Context, i int) error {
		sum, from, ok, err := snap.summary(ctx, ids[i])
		results[i] = result{sum, from, ok}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]model.TraceSummary, 0, len(ids))
	for _, r := range results {
		if r.ok {
			s.summaries[r.from].Add(1)
			out = append(out, r.sum)
		}
	}
	return out, nil
}

// summaryReaders is how many summaries one request reads at once.
const summaryReaders = 4

// Where a summary came from (the label of clew_store_trace_summaries_total).
const (
	summaryFromBlock = iota // a block's summary row
	summaryFromHead         // the spans of one head, in memory
	summaryFromTrace        // the whole trace, read and de-duplicated
	summarySources
)

var summarySourceNames = [summarySources]string{"block", "head", "trace"}

// summary is one trace's summary, and false when no source holds it.
func (snap *snapshot) summary(ctx context.Context, id model.TraceID) (sum model.TraceSummary, from int, ok bool, err error) {
	var headSpans []model.Span
	for _, h := range snap.heads {
		headSpans = h.trace(headSpans, id)
	}
	sources := 0
	if len(headSpans) > 0 {
		sources++
	}
	var (
		fromBlock model.TraceSummary
		readWhole bool
	)
	for _, b := range snap.blocks {
		if !b.MayContain(id) {
			continue
		}
		sum, found, err := b.Summary(ctx, id)
		if err != nil {
			// No usable summary row (or it could not be read): the trace
			// read below goes through the damage and retry handling of
			// every block read.
			if !errors.Is(err, block.ErrNoSummary) && ctx.Err() != nil {
				return sum, 0, false, ctx.Err()
			}
			readWhole = true
			break
		}
		if found {
			sources++
			fromBlock = sum
			if sources > 1 {
				break
			}
		}
	}
	switch {
	case !readWhole && sources == 0:
		return sum, 0, false, nil
	case !readWhole && sources == 1 && len(headSpans) == 0:
		return fromBlock, summaryFromBlock, true, nil
	case !readWhole && sources == 1:
		return model.Summarize(dedupe(headSpans)), summaryFromHead, true, nil
	}
	spans, err := snap.trace(ctx, id)
	if err != nil || len(spans) == 0 {
		return sum, 0, false, err
	}
	return model.Summarize(spans), summaryFromTrace, true, nil
}
