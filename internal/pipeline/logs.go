package pipeline

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/pipeline/redact"
)

// NewLogs returns the log pipeline: the same redaction rules as spans, applied
// to resource, scope and record attributes and to string bodies, then next.
// Logs have no limits or sampling stage.
func NewLogs(cfg Config, next consumer.Logs) (consumer.Logs, error) {
	if !cfg.Redaction.Enabled {
		return next, nil
	}
	r, err := redact.NewRedactor(cfg.Redaction)
	if err != nil {
		return nil, fmt.Errorf("log redaction: %w", err)
	}
	return consumer.LogsFunc(func(ctx context.Context, ld plog.Logs) (consumer.Result, error) {
		redactLogs(r, ld)
		return next.ConsumeLogs(ctx, ld)
	}), nil
}

func redactLogs(r *redact.Redactor, ld plog.Logs) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		r.RedactMap(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				rec := recs.At(k)
				n := r.RedactMap(rec.Attributes())
				switch body := rec.Body(); body.Type() {
				case pcommon.ValueTypeStr:
					if s, changed := r.RedactString(body.Str()); changed {
						body.SetStr(s)
						n++
					}
				case pcommon.ValueTypeMap:
					n += r.RedactMap(body.Map())
				}
				if n > 0 {
					rec.Attributes().PutInt(redact.AttrRedactedCount, int64(n))
				}
			}
		}
	}
}
