package app

import (
	"fmt"

	"github.com/clewtrace/clew/internal/receiver/jaeger"
	"github.com/clewtrace/clew/internal/receiver/zipkin"
)

// buildLegacyReceivers creates the Jaeger and Zipkin receivers that have an
// address configured. They feed the same pipeline as OTLP.
func (a *App) buildLegacyReceivers() error {
	c := a.cfg
	if c.IngestToken != "" && (c.JaegerCompactAddr != "" || c.JaegerBinaryAddr != "") {
		a.log.Warn("the ingest token cannot protect the Jaeger agent UDP listeners; switch them off with --jaeger-compact-addr= --jaeger-binary-addr= if untrusted hosts can reach them")
	}
	if c.JaegerHTTPAddr != "" || c.JaegerCompactAddr != "" || c.JaegerBinaryAddr != "" {
		r, err := jaeger.New(jaeger.Config{
			HTTPAddr:        c.JaegerHTTPAddr,
			CompactAddr:     c.JaegerCompactAddr,
			BinaryAddr:      c.JaegerBinaryAddr,
			MaxRequestBytes: c.MaxRequestBytes,
			AuthToken:       c.IngestToken,
		}, a.pipeline, a.reg, a.log)
		if err != nil {
			return fmt.Errorf("jaeger receiver: %w", err)
		}
		a.jaeger = r
		a.legacy = append(a.legacy, r)
	}
	if c.ZipkinAddr != "" {
		r, err := zipkin.New(zipkin.Config{HTTPAddr: c.ZipkinAddr, MaxRequestBytes: c.MaxRequestBytes, AuthToken: c.IngestToken},
			a.pipeline, a.reg, a.log)
		if err != nil {
			return fmt.Errorf("zipkin receiver: %w", err)
		}
		a.zipkin = r
		a.legacy = append(a.legacy, r)
	}
	return nil
}
