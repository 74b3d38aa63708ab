package logsapi

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// newLogs builds INFO records of trace 1, one second apart, by hand.
func newLogs(bodies ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, b := range bodies {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Second)))
		lr.SetTraceID(pcommon.TraceID{15: 1})
		lr.SetSpanID(pcommon.SpanID{7: 1})
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr(b)
	}
	return ld
}
