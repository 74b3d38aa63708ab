package objstore

import (
	"context"
	"io"
	"sync/atomic"
)

// Counting is a Bucket that counts the requests it passes on, by kind: the
// numbers a cloud bill is made of. Put through Counting, the block layer's
// requests per query can be measured (bench/) and exported (/metrics).
type Counting struct {
	Bucket
	puts, gets, opens, reads, lists, deletes atomic.Int64
}

var _ Bucket = (*Counting)(nil)

// NewCounting wraps b.
func NewCounting(b Bucket) *Counting { return &Counting{Bucket: b} }

// RequestCounts are the requests made so far. On S3, Get and RangeRead are
// GETs, Open is a HEAD, List is one or more LISTs.
type RequestCounts struct {
	Put, Get, Open, RangeRead, List, Delete int64
}

// Counts reports the requests made so far.
func (c *Counting) Counts() RequestCounts {
	return RequestCounts{Put: c.puts.Load(), Get: c.gets.Load(), Open: c.opens.Load(),
		RangeRead: c.reads.Load(), List: c.lists.Load(), Delete: c.deletes.Load()}
}

// Put counts and passes on.
func (c *Counting) Put(ctx context.Context, name string, r io.Reader) error {
	c.puts.Add(1)
	return c.Bucket.Put(ctx, name, r)
}

// Get counts and passes on.
func (c *Counting) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Bucket.Get(ctx, name)
}

// Open counts and passes on; the Reader counts its reads.
func (c *Counting) Open(ctx context.Context, name string) (Reader, error) {
	c.opens.Add(1)
	r, err := c.Bucket.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return countingReader{r, &c.reads}, nil
}

// List counts and passes on.
func (c *Counting) List(ctx context.Context, prefix string, fn func(string) error) error {
	c.lists.Add(1)
	return c.Bucket.List(ctx, prefix, fn)
}

// Delete counts and passes on.
func (c *Counting) Delete(ctx context.Context, name string) error {
	c.deletes.Add(1)
	return c.Bucket.Delete(ctx, name)
}

type countingReader struct {
	Reader
	n *atomic.Int64
}

func (r countingReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if len(p) > 0 && off < r.Size() {
		r.n.Add(1)
	}
	return r.Reader.ReadAt(ctx, p, off)
}

// Unwrap returns the wrapped bucket.
func (c *Counting) Unwrap() Bucket { return c.Bucket }
