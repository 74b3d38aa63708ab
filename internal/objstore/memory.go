package objstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Memory is a Bucket held in memory, for unit tests. Objects are immutable
// byte slices, so an open Reader keeps reading the version it opened, as on
// S3 where a GET started before an overwrite completes on the old object.
type Memory struct {
	mu       sync.RWMutex
	objects  map[string][]byte
	versions map[string]uint64 // bumped by every Put, for Conditional
	nextVer  uint64
}

var _ Bucket = (*Memory)(nil)

// NewMemory returns an empty in-memory bucket.
func NewMemory() *Memory { return &Memory{objects: map[string][]byte{}} }

// Put reads all of r first, so a failed read leaves the old object.
func (m *Memory) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := io.ReadAll(ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	m.mu.Lock()
	m.store(name, data)
	m.mu.Unlock()
	return nil
}

// store sets an object and gives it a new version. Call with mu held.
func (m *Memory) store(name string, data []byte) uint64 {
	if m.versions == nil {
		m.versions = map[string]uint64{}
	}
	m.nextVer++
	m.objects[name] = data
	m.versions[name] = m.nextVer
	return m.nextVer
}

var _ Conditional = (*Memory)(nil)

// GetVersion reads the object and its version.
func (m *Memory) GetVersion(ctx context.Context, name string) ([]byte, string, error) {
	if err := checkName(name); err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	data, ok := m.objects[name]
	if !ok {
		return nil, "", fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return bytes.Clone(data), strconv.FormatUint(m.versions[name], 10), nil
}

// PutIfVersion stores data if the object is still at version ("" = absent).
func (m *Memory) PutIfVersion(ctx context.Context, name string, data []byte, version string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, exists := m.objects[name]
	current := ""
	if exists {
		current = strconv.FormatUint(m.versions[name], 10)
	}
	if current != version {
		return "", fmt.Errorf("put %s: %w", name, ErrPrecondition)
	}
	return strconv.FormatUint(m.store(name, bytes.Clone(data)), 10), nil
}

func (m *Memory) lookup(ctx context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	data, ok := m.objects[name]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return data, nil
}

// Get returns a reader over the object's current bytes.
func (m *Memory) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	data, err := m.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Open returns a reader over the object's current bytes.
func (m *Memory) Open(ctx context.Context, name string) (Reader, error) {
	data, err := m.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	return memReader(data), nil
}

type memReader []byte

func (r memReader) Size() int64  { return int64(len(r)) }
func (r memReader) Close() error { return nil }

func (r memReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p, eof := clip(p, off, int64(len(r)))
	if len(p) == 0 {
		return 0, eof
	}
	return copy(p, r[off:]), eof
}

// List reports the names in lexical order.
func (m *Memory) List(ctx context.Context, prefix string, fn func(name string) error) error {
	m.mu.RLock()
	var names []string
	for n := range m.objects {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	m.mu.RUnlock()
	sort.Strings(names)
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the object if it exists.
func (m *Memory) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.objects, name)
	delete(m.versions, name)
	m.mu.Unlock()
	return nil
}
