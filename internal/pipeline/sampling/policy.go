package sampling

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Decision is a policy's verdict on a trace.
type Decision int

const (
	NotSampled Decision = iota
	Sampled
	Dropped // from a drop policy: overrides every Sampled
)

func (d Decision) String() string {
	return [...]string{"not_sampled", "sampled", "dropped"}[d]
}

// evaluator decides on a whole trace. Evaluators are called with the
// processor's lock held, which also guards the state of the rate limiters.
type evaluator interface {
	evaluate(now time.Time, t *trace) Decision
}

type evalFunc func(now time.Time, t *trace) Decision

func (f evalFunc) evaluate(now time.Time, t *trace) Decision { return f(now, t) }

// matcher turns a per-trace predicate into a policy.
func matcher(f func(t *trace) bool) evaluator {
	return evalFunc(func(_ time.Time, t *trace) Decision {
		if f(t) {
			return Sampled
		}
		return NotSampled
	})
}

func buildPolicy(p PolicyConfig) (evaluator, error) {
	switch p.Type {
	case "and":
		return buildAnd(p.And.SubPolicy)
	case "drop":
		and, err := buildAnd(p.Drop.SubPolicy)
		if err != nil {
			return nil, fmt.Errorf("drop: %w", err)
		}
		return evalFunc(func(now time.Time, t *trace) Decision {
			if and.evaluate(now, t) == Sampled {
				return Dropped
			}
			return NotSampled
		}), nil
	case "composite":
		return buildComposite(p.Composite)
	}
	return buildLeaf(p.SubPolicyConfig)
}

func buildAnd(subs []SubPolicyConfig) (evaluator, error) {
	if len(subs) == 0 {
		return nil, errors.New("needs at least one sub-policy")
	}
	evs := make([]evaluator, len(subs))
	for i, sp := range subs {
		ev, err := buildLeaf(sp)
		if err != nil {
			return nil, fmt.Errorf("sub-policy %q: %w", sp.Name, err)
		}
		evs[i] = ev
	}
	return evalFunc(func(now time.Time, t *trace) Decision {
		for _, ev := range evs {
			if ev.evaluate(now, t) != Sampled {
				return NotSampled
			}
		}
		return Sampled
	}), nil
}

// buildLeaf builds one of the policy types that need no sub-policies.
func buildLeaf(p SubPolicyConfig) (evaluator, error) {
	switch p.Type {
	case "always_sample":
		return matcher(func(*trace) bool { return true }), nil
	case "probabilistic":
		return probabilistic(p.Probabilistic)
	case "latency":
		return latency(p.Latency)
	case "status_code":
		return statusCode(p.StatusCode)
	case "string_attribute":
		return stringAttribute(p.StringAttribute)
	case "numeric_attribute":
		return numericAttribute(p.NumericAttribute)
	case "boolean_attribute":
		c := p.BooleanAttribute
		if c.Key == "" {
			return nil, errors.New("boolean_attribute: key is required")
		}
		return matcher(func(t *trace) bool {
			return t.anyAttr(c.Key, func(v pcommon.Value) bool {
				return v.Type() == pcommon.ValueTypeBool && v.Bool() == c.Value
			}) != c.InvertMatch
		}), nil
	case "span_count":
		c := p.SpanCount
		if c.MinSpans < 0 || (c.MaxSpans != 0 && c.MaxSpans < c.MinSpans) {
			return nil, fmt.Errorf("span_count: need 0 <= min_spans <= max_spans (or max_spans 0), got %d, %d", c.MinSpans, c.MaxSpans)
		}
		return matcher(func(t *trace) bool {
			return t.spans >= c.MinSpans && (c.MaxSpans == 0 || t.spans <= c.MaxSpans)
		}), nil
	case "rate_limiting":
		if p.RateLimiting.SpansPerSecond <= 0 {
			return nil, errors.New("rate_limiting: spans_per_second must be positive")
		}
		return &rateLimiter{limit: p.RateLimiting.SpansPerSecond}, nil
	case "":
		return nil, errors.New("type is required")
	}
	return nil, fmt.Errorf("unknown type %q", p.Type)
}

// probabilistic keeps a fixed share of traces, chosen by a hash of the trace
// ID so every Clew instance (and a re-run) keeps the same traces.
func probabilistic(c ProbabilisticConfig) (evaluator, error) {
	if c.SamplingPercentage < 0 || c.SamplingPercentage > 100 {
		return nil, fmt.Errorf("probabilistic: sampling_percentage must be in [0, 100], got %v", c.SamplingPercentage)
	}
	threshold := uint64(c.SamplingPercentage / 100 * math.MaxUint64)
	if c.SamplingPercentage >= 100 {
		threshold = math.MaxUint64
	}
	return matcher(func(t *trace) bool {
		h := fnv.New64a()
		h.Write([]byte(c.HashSalt))
		h.Write(t.id[:])
		return h.Sum64() < threshold || threshold == math.MaxUint64
	}), nil
}

// latency matches traces whose duration (earliest start to latest end) is
// at least threshold_ms and, if set, at most upper_threshold_ms.
func latency(c LatencyConfig) (evaluator, error) {
	if c.ThresholdMs < 0 || (c.UpperThresholdMs != 0 && c.UpperThresholdMs < c.ThresholdMs) {
		return nil, fmt.Errorf("latency: need 0 <= threshold_ms <= upper_threshold_ms (or upper 0), got %d, %d", c.ThresholdMs, c.UpperThresholdMs)
	}
	lo := time.Duration(c.ThresholdMs) * time.Millisecond
	hi := time.Duration(c.UpperThresholdMs) * time.Millisecond
	return matcher(func(t *trace) bool {
		var start, end pcommon.Timestamp
		t.eachSpan(func(_ pcommon.Resource, s ptrace.Span) bool {
			if start == 0 || s.StartTimestamp() < start {
				start = s.StartTimestamp()
			}
			end = max(end, s.EndTimestamp())
			return true
		})
		d := time.Duration(end - start)
		return d >= lo && (hi == 0 || d <= hi)
	}), nil
}

func statusCode(c StatusCodeConfig) (evaluator, error) {
	if len(c.StatusCodes) == 0 {
		return nil, errors.New("status_code: status_codes is required")
	}
	var want [3]bool
	for _, s := range c.StatusCodes {
		switch strings.ToUpper(s) {
		case "UNSET":
			want[ptrace.StatusCodeUnset] = true
		case "OK":
			want[ptrace.StatusCodeOk] = true
		case "ERROR":
			want[ptrace.StatusCodeError] = true
		default:
			return nil, fmt.Errorf("status_code: unknown status %q (want ERROR, OK or UNSET)", s)
		}
	}
	return matcher(func(t *trace) bool {
		found := false
		t.eachSpan(func(_ pcommon.Resource, s ptrace.Span) bool {
			code := s.Status().Code()
			found = int(code) < len(want) && want[code]
			return !found
		})
		return found
	}), nil
}

func stringAttribute(c StringAttributeConfig) (evaluator, error) {
	if c.Key == "" || len(c.Values) == 0 {
		return nil, errors.New("string_attribute: key and values are required")
	}
	match := func(s string) bool { return slices.Contains(c.Values, s) }
	if c.EnabledRegexMatching {
		res, err := compileValues(c.Values)
		if err != nil {
			return nil, fmt.Errorf("string_attribute: %w", err)
		}
		match = func(s string) bool {
			return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
		}
	}
	return matcher(func(t *trace) bool {
		return t.anyAttr(c.Key, func(v pcommon.Value) bool {
			return v.Type() == pcommon.ValueTypeStr && match(v.Str())
		}) != c.InvertMatch
	}), nil
}

func numericAttribute(c NumericAttributeConfig) (evaluator, error) {
	if c.Key == "" || (c.MinValue == nil && c.MaxValue == nil) {
		return nil, errors.New("numeric_attribute: key and min_value or max_value are required")
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if c.MinValue != nil {
		lo = *c.MinValue
	}
	if c.MaxValue != nil {
		hi = *c.MaxValue
	}
	if lo > hi {
		return nil, fmt.Errorf("numeric_attribute: min_value %d > max_value %d", lo, hi)
	}
	return matcher(func(t *trace) bool {
		return t.anyAttr(c.Key, func(v pcommon.Value) bool {
			switch v.Type() {
			case pcommon.ValueTypeInt:
				return v.Int() >= lo && v.Int() <= hi
			case pcommon.ValueTypeDouble:
				return v.Double() >= float64(lo) && v.Double() <= float64(hi)
			}
			return false
		}) != c.InvertMatch
	}), nil
}

// window counts spans admitted in the current second of the clock.
type window struct {
	second int64
	spans  int64
}

// admit reports whether n more spans fit under limit this second, and if so
// counts them.
func (w *window) admit(now time.Time, n, limit int64) bool {
	if s := now.Unix(); s != w.second {
		w.second, w.spans = s, 0
	}
	if w.spans+n > limit {
		return false
	}
	w.spans += n
	return true
}

// rateLimiter keeps traces while the spans kept this second stay under the limit.
type rateLimiter struct {
	limit int64
	w     window
}

func (r *rateLimiter) evaluate(now time.Time, t *trace) Decision {
	if r.w.admit(now, int64(t.spans), r.limit) {
		return Sampled
	}
	return NotSampled
}

// composite tries its sub-policies in order; the first that samples the trace
// and still has room in its share of max_total_spans_per_second keeps it.
type composite struct {
	total window
	max   int64
	subs  []compositeSub
}

type compositeSub struct {
	ev    evaluator
	limit int64
	w     window
}

func buildComposite(c CompositeConfig) (evaluator, error) {
	if c.MaxTotalSpansPerSecond <= 0 {
		return nil, errors.New("composite: max_total_spans_per_second must be positive")
	}
	if len(c.SubPolicy) == 0 {
		return nil, errors.New("composite: needs at least one composite_sub_policy")
	}
	byName := map[string]CompositeSubPolicyConfig{}
	for _, sp := range c.SubPolicy {
		byName[sp.Name] = sp
	}
	order := c.PolicyOrder
	if len(order) == 0 {
		for _, sp := range c.SubPolicy {
			order = append(order, sp.Name)
		}
	}
	// As in the Collector: a sub-policy without a rate allocation gets none.
	alloc := map[string]int64{}
	var sum float64
	for _, ra := range c.RateAllocation {
		if _, ok := byName[ra.Policy]; !ok {
			return nil, fmt.Errorf("composite: rate_allocation names unknown policy %q", ra.Policy)
		}
		sum += ra.Percent
		alloc[ra.Policy] = int64(ra.Percent / 100 * float64(c.MaxTotalSpansPerSecond))
	}
	if sum > 100 {
		return nil, fmt.Errorf("composite: rate_allocation percentages add up to %v, over 100", sum)
	}
	comp := &composite{max: c.MaxTotalSpansPerSecond}
	for _, name := range order {
		sp, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("composite: policy_order names unknown policy %q", name)
		}
		var ev evaluator
		var err error
		if sp.Type == "and" {
			ev, err = buildAnd(sp.And.SubPolicy)
		} else {
			ev, err = buildLeaf(sp.SubPolicyConfig)
		}
		if err != nil {
			return nil, fmt.Errorf("composite sub-policy %q: %w", name, err)
		}
		comp.subs = append(comp.subs, compositeSub{ev: ev, limit: alloc[name]})
	}
	return comp, nil
}

func (c *composite) evaluate(now time.Time, t *trace) Decision {
	n := int64(t.spans)
	for i := range c.subs {
		sub := &c.subs[i]
		if sub.ev.evaluate(now, t) != Sampled {
			continue
		}
		// Check both budgets before counting in either.
		probe := sub.w
		if !probe.admit(now, n, sub.limit) {
			continue
		}
		if !c.total.admit(now, n, c.max) {
			return NotSampled
		}
		sub.w = probe
		return Sampled
	}
	return NotSampled
}
