package pipeline

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/consumer"
)

func TestLogsRedactsBodyAndAttributes(t *testing.T) {
	var got plog.Logs
	sink := consumer.LogsFunc(func(_ context.Context, ld plog.Logs) (consumer.Result, error) {
		got = ld
		return consumer.Result{}, nil
	})
	logs, err := NewLogs(DefaultConfig(), sink)
	if err != nil {
		t.Fatal(err)
	}
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	ld := plog.NewLogs()
	rec := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.Body().SetStr("login ok, token " + jwt)
	rec.Attributes().PutStr("http.request.header.authorization", "Bearer "+jwt)
	rec.Attributes().PutStr("user", "alice")
	if _, err := logs.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	out := got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	if strings.Contains(out.Body().Str(), jwt) {
		t.Errorf("body still holds the JWT: %q", out.Body().Str())
	}
	if v, _ := out.Attributes().Get("http.request.header.authorization"); strings.Contains(v.Str(), jwt) {
		t.Errorf("authorization attribute not masked: %q", v.Str())
	}
	if v, _ := out.Attributes().Get("user"); v.Str() != "alice" {
		t.Errorf("clean attribute changed: %q", v.Str())
	}
	if v, ok := out.Attributes().Get("clew.redacted_count"); !ok || v.Int() < 2 {
		t.Errorf("clew.redacted_count = %v, want >= 2", v.AsRaw())
	}
}

func TestLogsWithoutRedactionPassesThrough(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Redaction.Enabled = false
	called := false
	sink := consumer.LogsFunc(func(context.Context, plog.Logs) (consumer.Result, error) {
		called = true
		return consumer.Result{}, nil
	})
	logs, err := NewLogs(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := logs.ConsumeLogs(context.Background(), plog.NewLogs()); err != nil || !called {
		t.Fatalf("err %v called %v", err, called)
	}
}
