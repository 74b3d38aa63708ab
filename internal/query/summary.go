package query

import "github.com/clewtrace/clew/internal/model"

// Summarize computes the summary of one trace's spans (any order, non-empty);
// see model.Summarize.
func Summarize(spans []model.Span) TraceSummary { return model.Summarize(spans) }
