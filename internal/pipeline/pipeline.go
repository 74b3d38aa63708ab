package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/pipeline/limits"
	"github.com/clewtrace/clew/internal/pipeline/redact"
	"github.com/clewtrace/clew/internal/pipeline/sampling"
)

// Config is the `pipeline` section of Clew's configuration.
type Config struct {
	Limits       limits.Config   `yaml:"limits"`
	Redaction    redact.Config   `yaml:"redaction"`
	TailSampling sampling.Config `yaml:"tail_sampling"`
}

// DefaultConfig: limits on, redaction on, tail sampling off. Decode YAML over
// it so absent keys keep their defaults.
func DefaultConfig() Config {
	return Config{
		Limits:       limits.DefaultConfig(),
		Redaction:    redact.DefaultConfig(),
		TailSampling: sampling.DefaultConfig(),
	}
}

// Validate reports every invalid setting, prefixed with its section.
func (c Config) Validate() error {
	var errs []error
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("limits: %w", err))
	}
	if c.Redaction.Enabled {
		if err := c.Redaction.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("redaction: %w", err))
		}
	}
	if err := c.TailSampling.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("tail_sampling: %w", err))
	}
	return errors.Join(errs...)
}

// New chains validation and limits → redaction → tail sampling (each if
// enabled) → next. The returned shutdown function decides and forwards every
// trace tail sampling holds; call it before closing the store.
//
// beforeSampling, when not nil, wraps the stage that follows redaction and
// precedes tail sampling: where span metrics are computed, so rates stay true
// when sampling keeps only a fraction of traces.
func New(cfg Config, next consumer.Traces, reg prometheus.Registerer, logger *slog.Logger,
	beforeSampling func(consumer.Traces) consumer.Traces) (consumer.Traces, func(context.Context) error, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("pipeline config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	shutdown := func(context.Context) error { return nil }
	head := next
	if cfg.TailSampling.Enabled {
		ts, err := sampling.New(cfg.TailSampling, head, reg, logger, sampling.SystemClock{})
		if err != nil {
			return nil, nil, err
		}
		ts.Start()
		shutdown = ts.Shutdown
		head = ts
	}
	if beforeSampling != nil {
		head = beforeSampling(head)
	}
	if cfg.Redaction.Enabled {
		r, err := redact.New(cfg.Redaction, head, reg, logger)
		if err != nil {
			return nil, nil, err
		}
		head = r
	}
	l, err := limits.New(cfg.Limits, head, reg, logger)
	if err != nil {
		_ = shutdown(context.Background())
		return nil, nil, err
	}
	return l, shutdown, nil
}
