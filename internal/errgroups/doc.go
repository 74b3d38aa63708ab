// Package errgroups groups the errors Clew sees into issues, the way an
// error tracker does, from the spans and logs it already receives.
//
// Every failing span — one with an exception event, or with status ERROR
// that is not a CLIENT or PRODUCER span (the callee or the enclosing request
// carries those) — is an occurrence. Its fingerprint is the exception type,
// the message with the parts that vary per request replaced (numbers, IDs,
// UUIDs, hex, e-mail addresses, quoted values), the service and operation,
// and the top in-app stack frame when there is a stack trace. An error log
// (severity ≥ ERROR) with a trace ID joins the group of its span when that
// span is an occurrence; otherwise it is an occurrence of its own.
//
// A Tap sits in the trace pipeline before tail sampling, next to the span
// metrics tap, so counts are true whatever sampling keeps; a LogTap sits
// in front of the log store. The Store aggregates per minute (groups capped
// per minute, excess counted under an overflow group), writes each closed
// minute through the minute journal (package minutes) as one object per
// minute and process to <data-dir>/errors or to the bucket shared by
// several nodes (format in codec.go), reads every node's minutes back on
// Open and as other nodes write them, deletes them after the retention
// period, and keeps hourly aggregates in memory to answer queries.
//
//	st, err := errgroups.Open(ctx, errgroups.Config{Storage: minutes.Storage{Dir: dataDir + "/errors", Writer: nodeID, Retention: ret}}, logger)
//	head := errgroups.NewTap(st, next)
//	go st.Run(ctx, 0)
//	defer st.Close(ctx) // after the pipeline has drained
package errgroups
