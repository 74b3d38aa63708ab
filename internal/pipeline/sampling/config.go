package sampling

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Config is the `tail_sampling` section; its shape and policy vocabulary
// follow the Collector's tail_sampling processor.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// DecisionWait is how long after a trace's last span arrived it is decided.
	DecisionWait time.Duration `yaml:"decision_wait"`
	// NumTraces bounds the traces held; over it the trace closest to its
	// decision is decided early.
	NumTraces int `yaml:"num_traces"`
	// MaxBytes bounds the spans held by their OTLP protobuf size; over it,
	// as over NumTraces, the traces closest to their decision are decided
	// early until the rest fit. Held as pdata they take about three times
	// as much memory.
	MaxBytes      int64               `yaml:"max_bytes"`
	DecisionCache DecisionCacheConfig `yaml:"decision_cache"`
	Policies      []PolicyConfig      `yaml:"policies"`
}

// DecisionCacheConfig bounds the memory of past decisions, which late spans
// follow.
type DecisionCacheConfig struct {
	SampledCacheSize    int `yaml:"sampled_cache_size"`
	NonSampledCacheSize int `yaml:"non_sampled_cache_size"`
}

// PolicyConfig is one policy: a name, a type and that type's settings.
type PolicyConfig struct {
	SubPolicyConfig `yaml:",inline"`
	Composite       CompositeConfig `yaml:"composite"`
	And             AndConfig       `yaml:"and"`
	Drop            DropConfig      `yaml:"drop"`
}

// SubPolicyConfig holds the settings of the leaf policy types, which can also
// stand inside and, drop and composite.
type SubPolicyConfig struct {
	Name             string                 `yaml:"name"`
	Type             string                 `yaml:"type"`
	Probabilistic    ProbabilisticConfig    `yaml:"probabilistic"`
	Latency          LatencyConfig          `yaml:"latency"`
	StatusCode       StatusCodeConfig       `yaml:"status_code"`
	StringAttribute  StringAttributeConfig  `yaml:"string_attribute"`
	NumericAttribute NumericAttributeConfig `yaml:"numeric_attribute"`
	BooleanAttribute BooleanAttributeConfig `yaml:"boolean_attribute"`
	SpanCount        SpanCountConfig        `yaml:"span_count"`
	RateLimiting     RateLimitingConfig     `yaml:"rate_limiting"`
}

// CompositeSubPolicyConfig is a composite's sub-policy, which may be an and.
type CompositeSubPolicyConfig struct {
	SubPolicyConfig `yaml:",inline"`
	And             AndConfig `yaml:"and"`
}

type ProbabilisticConfig struct {
	HashSalt           string  `yaml:"hash_salt"`
	SamplingPercentage float64 `yaml:"sampling_percentage"`
}

type LatencyConfig struct {
	ThresholdMs      int64 `yaml:"threshold_ms"`
	UpperThresholdMs int64 `yaml:"upper_threshold_ms"`
}

type StatusCodeConfig struct {
	StatusCodes []string `yaml:"status_codes"`
}

type StringAttributeConfig struct {
	Key                  string   `yaml:"key"`
	Values               []string `yaml:"values"`
	EnabledRegexMatching bool     `yaml:"enabled_regex_matching"`
	InvertMatch          bool     `yaml:"invert_match"`
}

// NumericAttributeConfig matches values in [MinValue, MaxValue]; an absent
// bound is open.
type NumericAttributeConfig struct {
	Key         string `yaml:"key"`
	MinValue    *int64 `yaml:"min_value"`
	MaxValue    *int64 `yaml:"max_value"`
	InvertMatch bool   `yaml:"invert_match"`
}

type BooleanAttributeConfig struct {
	Key         string `yaml:"key"`
	Value       bool   `yaml:"value"`
	InvertMatch bool   `yaml:"invert_match"`
}

// SpanCountConfig matches traces with at least MinSpans and (if MaxSpans is
// set) at most MaxSpans spans.
type SpanCountConfig struct {
	MinSpans int `yaml:"min_spans"`
	MaxSpans int `yaml:"max_spans"`
}

type RateLimitingConfig struct {
	SpansPerSecond int64 `yaml:"spans_per_second"`
}

type AndConfig struct {
	SubPolicy []SubPolicyConfig `yaml:"and_sub_policy"`
}

// DropConfig drops a trace that matches all its sub-policies, whatever the
// other policies say.
type DropConfig struct {
	SubPolicy []SubPolicyConfig `yaml:"drop_sub_policy"`
}

type CompositeConfig struct {
	MaxTotalSpansPerSecond int64                      `yaml:"max_total_spans_per_second"`
	PolicyOrder            []string                   `yaml:"policy_order"`
	SubPolicy              []CompositeSubPolicyConfig `yaml:"composite_sub_policy"`
	RateAllocation         []RateAllocationConfig     `yaml:"rate_allocation"`
}

type RateAllocationConfig struct {
	Policy  string  `yaml:"policy"`
	Percent float64 `yaml:"percent"`
}

// DefaultConfig is off; when enabled without policies it keeps everything.
func DefaultConfig() Config {
	return Config{
		DecisionWait:  10 * time.Second,
		NumTraces:     50_000,
		MaxBytes:      64 << 20,
		DecisionCache: DecisionCacheConfig{SampledCacheSize: 100_000, NonSampledCacheSize: 100_000},
	}
}

// Validate reports every invalid setting it finds. A disabled section is not
// checked beyond parsing.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.DecisionWait <= 0 {
		errs = append(errs, fmt.Errorf("decision_wait must be positive, got %s", c.DecisionWait))
	}
	if c.NumTraces <= 0 {
		errs = append(errs, fmt.Errorf("num_traces must be positive, got %d", c.NumTraces))
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_bytes must be positive, got %d", c.MaxBytes))
	}
	if c.DecisionCache.SampledCacheSize <= 0 || c.DecisionCache.NonSampledCacheSize <= 0 {
		errs = append(errs, errors.New("decision_cache sizes must be positive"))
	}
	names := map[string]bool{}
	for i, p := range c.Policies {
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("policies[%d]: name is required", i))
		} else if names[p.Name] {
			errs = append(errs, fmt.Errorf("policies[%d]: duplicate name %q", i, p.Name))
		}
		names[p.Name] = true
		if _, err := buildPolicy(p); err != nil {
			errs = append(errs, fmt.Errorf("policy %q: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// compileValues compiles string_attribute values as anchored patterns.
func compileValues(values []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, len(values))
	for i, v := range values {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, fmt.Errorf("values[%d]: %w", i, err)
		}
		out[i] = re
	}
	return out, nil
}
