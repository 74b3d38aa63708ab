package pipeline

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/pipeline/limits"
	"github.com/clewtrace/clew/internal/pipeline/redact"
)

// NewLogs returns the log pipeline: text that is not UTF-8 repaired as in
// spans (see limits.RepairMap), then the same redaction rules as spans,
// applied to resource, scope and record attributes and to string bodies, then
// next. Logs have no limits or sampling stage.
func NewLogs(cfg Config, next consumer.Logs) (consumer.Logs, error) {
	var r *redact.Redactor
	if cfg.Redaction.Enabled {
		var err error
		if r, err = redact.NewRedactor(cfg.Redaction); err != nil {
			return nil, fmt.Errorf("log redaction: %w", err)
		}
	}
	return consumer.LogsFunc(func(ctx context.Context, ld plog.Logs) (consumer.Result, error) {
		repairLogs(ld)
		if r != nil {
			redactLogs(r, ld)
		}
		return next.ConsumeLogs(ctx, ld)
	}), nil
}

// repairLogs replaces invalid UTF-8 in every text field of ld.
func repairLogs(ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		limits.RepairResource(rl.Resource())
		for _, sl := range rl.ScopeLogs().All() {
			limits.RepairScope(sl.Scope())
			for _, rec := range sl.LogRecords().All() {
				limits.RepairMap(rec.Attributes())
				limits.RepairValue(rec.Body())
				if s := rec.SeverityText(); !utf8.ValidString(s) {
					rec.SetSeverityText(strings.ToValidUTF8(s, "\uFFFD"))
				}
				if s := rec.EventName(); !utf8.ValidString(s) {
					rec.SetEventName(strings.ToValidUTF8(s, "\uFFFD"))
				}
			}
		}
	}
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
