// Package pipeline owns the stages between Clew's receivers and its store:
// validation and limits (package limits, always on), redaction of secrets and
// personal data (package redact, on by default) and tail-based sampling
// (package sampling, off by default). It owns the pipeline's YAML section and
// wires the stages in that order in front of the store with New; each stage is
// a consumer.Traces that owns the batch it is given and passes rejections on
// through consumer.Result. Configuration reference: docs/pipeline.md.
package pipeline
