package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"gopkg.in/yaml.v3"

	"github.com/clewtrace/clew/internal/consumer"
)

func TestConfigYAML(t *testing.T) {
	cfg := DefaultConfig()
	err := yaml.Unmarshal([]byte(`
limits:
  max_attributes: 64
redaction:
  emails: hash
  email_hash_key: 0123456789abcdef0123
tail_sampling:
  enabled: true
  decision_wait: 5s
  policies:
    - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxAttributes != 64 || cfg.Limits.MaxEvents != 128 {
		t.Errorf("limits = %+v: want the set value and the defaults kept", cfg.Limits)
	}
	if !cfg.Redaction.Enabled || !cfg.Redaction.AllowAllKeys || cfg.Redaction.Emails != "hash" {
		t.Errorf("redaction = %+v", cfg.Redaction)
	}
	if cfg.TailSampling.DecisionWait != 5*time.Second || cfg.TailSampling.NumTraces != 50_000 || len(cfg.TailSampling.Policies) != 1 {
		t.Errorf("tail_sampling = %+v", cfg.TailSampling)
	}

	bad := DefaultConfig()
	bad.Limits.MaxLinks = 0
	bad.Redaction.Emails = "hash"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "limits: max_links") || !strings.Contains(err.Error(), "redaction: emails") {
		t.Errorf("Validate() = %v, want both errors", err)
	}
}

type sink struct{ got []ptrace.Traces }

func (s *sink) ConsumeTraces(_ context.Context, td ptrace.Traces) (consumer.Result, error) {
	s.got = append(s.got, td)
	return consumer.Result{}, nil
}

// TestChain checks the order: an invalid span is rejected, a secret masked,
// and the batch held by tail sampling until shutdown flushes it.
func TestChain(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TailSampling.Enabled = true
	cfg.TailSampling.DecisionWait = time.Hour // only Shutdown decides
	next := &sink{}
	head, shutdown, err := New(cfg, next, prometheus.NewRegistry(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	good := spans.AppendEmpty()
	good.SetTraceID(pcommon.TraceID{15: 1})
	good.SetSpanID(pcommon.SpanID{7: 1})
	good.SetStartTimestamp(1)
	good.SetEndTimestamp(2)
	good.Attributes().PutStr("authorization", "Bearer abcdefghijkl")
	spans.AppendEmpty() // all-zero IDs: invalid

	res, err := head.ConsumeTraces(context.Background(), td)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 1 {
		t.Errorf("rejected = %d, want 1", res.Rejected)
	}
	if len(next.got) != 0 {
		t.Fatal("tail sampling did not hold the trace")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(next.got) != 1 || next.got[0].SpanCount() != 1 {
		t.Fatalf("after shutdown got %d batches", len(next.got))
	}
	v, _ := next.got[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("authorization")
	if v.Str() != "***" {
		t.Errorf("authorization = %q: redaction not in the chain", v.Str())
	}
}
