package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// bigExport sends --n concurrent trace exports of about --size wire bytes
// each, over gRPC or OTLP/HTTP, once, and prints how each was answered. It
// measures what large requests at once do to Clew's memory (read the peak
// from /proc/<pid>/status VmHWM; bench/bigexport.sh does both).
func bigExport(args []string) error {
	fs := flag.NewFlagSet("bigexport", flag.ExitOnError)
	grpcAddr := fs.String("grpc", "", "OTLP gRPC address (host:port)")
	httpURL := fs.String("http", "", "OTLP/HTTP traces URL (http://host:port/v1/traces)")
	n := fs.Int("n", 8, "concurrent exports")
	size := fs.Int("size", 62<<20, "wire bytes per export (about)")
	timeout := fs.Duration("timeout", 5*time.Minute, "deadline of each export")
	_ = fs.Parse(args)
	if (*grpcAddr == "") == (*httpURL == "") {
		return fmt.Errorf("give exactly one of --grpc and --http")
	}
	body, err := exportOfSize(*size)
	if err != nil {
		return err
	}
	send := func(ctx context.Context) string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *httpURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "error: " + err.Error()
		}
		resp.Body.Close()
		return resp.Status
	}
	if *grpcAddr != "" {
		cc, err := grpc.NewClient(*grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(1<<30)))
		if err != nil {
			return err
		}
		defer cc.Close()
		send = func(ctx context.Context) string {
			var out rawMsg
			err := cc.Invoke(ctx, exportMethod, &rawMsg{b: body}, &out, grpc.ForceCodec(rawCodec{}))
			return status.Code(err).String()
		}
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[string]int{}
	)
	start := time.Now()
	for range *n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			s := send(ctx)
			mu.Lock()
			got[s]++
			mu.Unlock()
		})
	}
	wg.Wait()
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d × %s", got[k], k))
	}
	fmt.Printf("%d exports of %.1f MiB in %v: %s\n", *n, float64(len(body))/(1<<20), time.Since(start).Round(time.Millisecond), strings.Join(parts, ", "))
	return nil
}

// exportOfSize builds one trace export of about size wire bytes: spans with
// a 900-byte attribute each.
func exportOfSize(size int) ([]byte, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bigexport")
	ss := rs.ScopeSpans().AppendEmpty()
	payload := strings.Repeat("x", 900)
	now := time.Now()
	perSpan := 1000 // about, on the wire
	for i := range size / perSpan {
		s := ss.Spans().AppendEmpty()
		s.SetName("GET /items")
		s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), 1})
		s.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), byte(i >> 16), 2})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		s.Attributes().PutStr("payload", payload)
	}
	return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
}
