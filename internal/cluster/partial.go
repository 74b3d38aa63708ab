package cluster

import (
	"context"
	"net/http"

	"github.com/clewtrace/clew/internal/query/partial"
)

// PartialHeader is the response header that marks an answer as possibly
// incomplete: here, some peer did not answer, so spans it had not yet
// written to the bucket are missing. It is partial.Header, which the store
// also uses (a damaged block, a WAL still replaying).
const PartialHeader = partial.Header

// notePartial records, for the request in ctx, that its answer lacks a
// peer's data. Without MarkPartial around the handler it does nothing.
func notePartial(ctx context.Context, note string) { partial.Add(ctx, note) }

// MarkPartial wraps a query API so that an answer missing a peer's data
// (or anything else partial.Add was told) carries the Clew-Partial header
// (answers are computed before the first byte is written, so the header is
// known in time).
func MarkPartial(next http.Handler) http.Handler { return partial.Middleware(next) }
