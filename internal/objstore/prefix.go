package objstore

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Prefixed is a Bucket that keeps its objects under a fixed prefix of
// another: several stores (trace blocks, log blocks) share one S3 bucket
// without seeing each other's objects.
type Prefixed struct {
	b      Bucket
	prefix string // ends with "/"
}

// WithPrefix returns b seen from below prefix, which must be a valid object
// name (it is given a trailing "/").
func WithPrefix(b Bucket, prefix string) (*Prefixed, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	if !ValidName(prefix) {
		return nil, fmt.Errorf("%w: prefix %q", ErrInvalidName, prefix)
	}
	return &Prefixed{b: b, prefix: prefix + "/"}, nil
}

func (p *Prefixed) name(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return p.prefix + name, nil
}

func (p *Prefixed) Put(ctx context.Context, name string, r io.Reader) error {
	n, err := p.name(name)
	if err != nil {
		return err
	}
	return p.b.Put(ctx, n, r)
}

func (p *Prefixed) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	n, err := p.name(name)
	if err != nil {
		return nil, err
	}
	return p.b.Get(ctx, n)
}

func (p *Prefixed) Open(ctx context.Context, name string) (Reader, error) {
	n, err := p.name(name)
	if err != nil {
		return nil, err
	}
	return p.b.Open(ctx, n)
}

func (p *Prefixed) List(ctx context.Context, prefix string, fn func(name string) error) error {
	return p.b.List(ctx, p.prefix+prefix, func(name string) error {
		return fn(strings.TrimPrefix(name, p.prefix))
	})
}

func (p *Prefixed) Delete(ctx context.Context, name string) error {
	n, err := p.name(name)
	if err != nil {
		return err
	}
	return p.b.Delete(ctx, n)
}

// Prefix is the prefix objects are kept under, with its trailing "/".
func (p *Prefixed) Prefix() string { return p.prefix }
