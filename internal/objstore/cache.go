package objstore

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// CacheOptions configures NewCache. Zero values take the defaults in brackets.
type CacheOptions struct {
	// ChunkSize is the unit of fetching and caching: a read fetches the
	// aligned chunks it touches that are not cached, consecutive ones in one
	// ranged GET, so the many small reads of a Parquet reader become a few
	// large requests. [1 MiB]
	ChunkSize int64
	// MemoryBytes bounds the in-memory chunk cache. [64 MiB]
	MemoryBytes int64
	// Dir, if set, holds a second, larger cache on local disk that survives
	// restarts; DirBytes bounds it. [Dir unset; DirBytes 10 GiB]
	Dir      string
	DirBytes int64
}

// Cache is a Bucket that caches range reads of another. Only ranges read
// through Open's Reader are cached: Clew reads ranges only of write-once
// objects (block data files, whose names are never reused), while small
// objects that can change (meta.json, a lease) are read with Get, which
// always goes to the bucket. Put and Delete through the Cache drop what it
// holds of the object. Entries are keyed by name and size.
type Cache struct {
	Bucket
	chunk int64
	mem   *lru
	disk  *diskCache // nil without Dir

	memHits, diskHits, misses, fetches atomic.Int64
}

var _ Bucket = (*Cache)(nil)

// NewCache wraps b. With o.Dir set, the disk cache's existing entries are
// indexed (oldest first out).
func NewCache(b Bucket, o CacheOptions) (*Cache, error) {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 1 << 20
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 64 << 20
	}
	if o.DirBytes <= 0 {
		o.DirBytes = 10 << 30
	}
	c := &Cache{Bucket: b, chunk: o.ChunkSize, mem: newLRU(o.MemoryBytes, nil)}
	if o.Dir != "" {
		d, err := openDiskCache(o.Dir, o.DirBytes)
		if err != nil {
			return nil, err
		}
		c.disk = d
	}
	return c, nil
}

// CacheStats counts chunk lookups.
type CacheStats struct {
	MemoryHits, DiskHits, Misses int64 // chunks
	Fetches                      int64 // ranged reads sent to the bucket
	MemoryBytes, DiskBytes       int64 // held now
}

// Stats reports the cache's counters.
func (c *Cache) Stats() CacheStats {
	s := CacheStats{MemoryHits: c.memHits.Load(), DiskHits: c.diskHits.Load(), Misses: c.misses.Load(),
		Fetches: c.fetches.Load(), MemoryBytes: c.mem.bytes()}
	if c.disk != nil {
		s.DiskBytes = c.disk.lru.bytes()
	}
	return s
}

// Put drops cached chunks of the object, then writes it.
func (c *Cache) Put(ctx context.Context, name string, r io.Reader) error {
	c.forget(name)
	return c.Bucket.Put(ctx, name, r)
}

// Delete drops cached chunks of the object, then deletes it.
func (c *Cache) Delete(ctx context.Context, name string) error {
	c.forget(name)
	return c.Bucket.Delete(ctx, name)
}

func (c *Cache) forget(name string) {
	c.mem.removePrefix(name + "@")
	if c.disk != nil {
		c.disk.lru.removePrefix(name + "@")
	}
}

// Open opens the object in the underlying bucket and reads it through the
// cache.
func (c *Cache) Open(ctx context.Context, name string) (Reader, error) {
	r, err := c.Bucket.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &cachedReader{c: c, r: r, key: name + "@" + strconv.FormatInt(r.Size(), 10) + "@"}, nil
}

type cachedReader struct {
	c   *Cache
	r   Reader
	key string // name@size@, followed by the chunk number
}

func (r *cachedReader) Size() int64  { return r.r.Size() }
func (r *cachedReader) Close() error { return r.r.Close() }

func (r *cachedReader) chunkKey(i int64) string { return r.key + strconv.FormatInt(i, 10) }

// ReadAt serves the read from cached chunks, fetching the missing ones;
// each run of consecutive missing chunks is one read of the bucket.
func (r *cachedReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	size := r.r.Size()
	p, eof := clip(p, off, size)
	if len(p) == 0 {
		return 0, eof
	}
	cs := r.c.chunk
	first, last := off/cs, (off+int64(len(p))-1)/cs
	chunks := make([][]byte, last-first+1)
	for i := first; i <= last; {
		if data := r.cached(i); data != nil {
			chunks[i-first] = data
			i++
			continue
		}
		j := i + 1 // extend the run of missing chunks
		for j <= last && r.peek(j) == nil {
			j++
		}
		start, end := i*cs, min(j*cs, size)
		buf := make([]byte, end-start)
		r.c.fetches.Add(1)
		if n, err := r.r.ReadAt(ctx, buf, start); n < len(buf) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		for k := i; k < j; k++ {
			data := buf[(k-i)*cs : min((k-i+1)*cs, int64(len(buf)))]
			chunks[k-first] = data
			r.c.misses.Add(1)
			r.c.mem.add(r.chunkKey(k), data)
			if r.c.disk != nil {
				r.c.disk.put(r.chunkKey(k), data)
			}
		}
		i = j
	}
	n := 0
	for k, data := range chunks {
		from := int64(0)
		if k == 0 {
			from = off - first*cs
		}
		n += copy(p[n:], data[from:])
	}
	return n, eof
}

// peek looks for a chunk without counting, to plan a run.
func (r *cachedReader) peek(i int64) []byte {
	key := r.chunkKey(i)
	if d := r.c.mem.get(key); d != nil {
		return d
	}
	if r.c.disk != nil && r.c.disk.lru.has(key) {
		return []byte{} // present on disk: ends the run; cached() reads it
	}
	return nil
}

func (r *cachedReader) cached(i int64) []byte {
	key := r.chunkKey(i)
	if d := r.c.mem.get(key); d != nil {
		r.c.memHits.Add(1)
		return d
	}
	if r.c.disk != nil {
		if d := r.c.disk.get(key); d != nil {
			r.c.diskHits.Add(1)
			r.c.mem.add(key, d)
			return d
		}
	}
	return nil
}

// lru is a byte-bounded least-recently-used map. onEvict, if set, is
// called (under the lock) for each evicted key.
type lru struct {
	mu      sync.Mutex
	max     int64
	size    int64
	order   *list.List // front: most recent; values are *lruEntry
	entries map[string]*list.Element
	onEvict func(key string)
}

type lruEntry struct {
	key  string
	data []byte // nil in the disk cache's index
	n    int64
}

func newLRU(max int64, onEvict func(string)) *lru {
	return &lru{max: max, order: list.New(), entries: map[string]*list.Element{}, onEvict: onEvict}
}

func (l *lru) get(key string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[key]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*lruEntry).data
	}
	return nil
}

func (l *lru) has(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.entries[key]
	return ok
}

func (l *lru) bytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// add inserts or refreshes an entry of n bytes and evicts down to max. An
// entry larger than max is not kept.
func (l *lru) add(key string, data []byte) { l.addSized(key, data, int64(len(data))) }

func (l *lru) addSized(key string, data []byte, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[key]; ok { // replaced, not evicted: no onEvict
		l.order.Remove(e)
		delete(l.entries, key)
		l.size -= e.Value.(*lruEntry).n
	}
	if n > l.max {
		if l.onEvict != nil {
			l.onEvict(key)
		}
		return
	}
	l.entries[key] = l.order.PushFront(&lruEntry{key: key, data: data, n: n})
	l.size += n
	for l.size > l.max {
		l.remove(l.order.Back())
	}
}

func (l *lru) remove(e *list.Element) {
	ent := e.Value.(*lruEntry)
	l.order.Remove(e)
	delete(l.entries, ent.key)
	l.size -= ent.n
	if l.onEvict != nil {
		l.onEvict(ent.key)
	}
}

func (l *lru) removeKey(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[key]; ok {
		l.remove(e)
	}
}

func (l *lru) removePrefix(prefix string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, e := range l.entries {
		if strings.HasPrefix(k, prefix) {
			l.remove(e)
		}
	}
}

// diskCache keeps each chunk as a file named by the SHA-256 of its key:
// the key (so the index can be rebuilt at open), the data, and a CRC-32C of
// both, so a file torn by a crash is noticed and dropped rather than served.
// The index of what is on disk, and its recency, is in memory; at open it is
// rebuilt from the files, oldest modification time first out.
type diskCache struct {
	dir string
	lru *lru // keys are chunk keys; entries carry no data
}

const diskSuffix = ".chunk"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func openDiskCache(dir string, max int64) (*diskCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	d := &diskCache{dir: dir}
	d.lru = newLRU(max, func(key string) { _ = os.Remove(d.path(key)) })
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	type found struct {
		key  string
		size int64
		mod  int64
	}
	var files []found
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.Remove(p) // an interrupted write
			continue
		}
		if !strings.HasSuffix(e.Name(), diskSuffix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		key, ok := readDiskKey(p)
		if !ok || diskName(key) != e.Name() {
			_ = os.Remove(p)
			continue
		}
		files = append(files, found{key, fi.Size(), fi.ModTime().UnixNano()})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod < files[j].mod })
	for _, f := range files {
		d.lru.addSized(f.key, nil, f.size)
	}
	return d, nil
}

func diskName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16]) + diskSuffix
}

func (d *diskCache) path(key string) string { return filepath.Join(d.dir, diskName(key)) }

// readDiskKey reads the key at the start of a chunk file.
func readDiskKey(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	var n [2]byte
	if _, err := io.ReadFull(f, n[:]); err != nil {
		return "", false
	}
	key := make([]byte, binary.LittleEndian.Uint16(n[:]))
	if _, err := io.ReadFull(f, key); err != nil {
		return "", false
	}
	return string(key), true
}

// get returns the chunk, or nil if it is not on disk or fails its check.
func (d *diskCache) get(key string) []byte {
	if !d.lru.has(key) {
		return nil
	}
	raw, err := os.ReadFile(d.path(key))
	if err != nil || len(raw) < 2+len(key)+4 {
		d.lru.removeKey(key)
		return nil
	}
	body, sum := raw[:len(raw)-4], binary.LittleEndian.Uint32(raw[len(raw)-4:])
	if crc32.Checksum(body, castagnoli) != sum || string(body[2:2+len(key)]) != key {
		d.lru.removeKey(key)
		return nil
	}
	d.lru.get(key) // mark as recently used
	return body[2+len(key):]
}

// put writes the chunk; a failure only means the next read fetches again.
func (d *diskCache) put(key string, data []byte) {
	if len(key) > 1<<16-1 {
		return
	}
	buf := make([]byte, 0, 2+len(key)+len(data)+4)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(key)))
	buf = append(buf, key...)
	buf = append(buf, data...)
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	f, err := os.CreateTemp(d.dir, ".tmp-*")
	if err != nil {
		return
	}
	_, err1 := f.Write(buf)
	err2 := f.Close()
	if errors.Join(err1, err2) != nil {
		_ = os.Remove(f.Name())
		return
	}
	if err := os.Rename(f.Name(), d.path(key)); err != nil {
		_ = os.Remove(f.Name())
		return
	}
	d.lru.addSized(key, nil, int64(len(buf)))
}

// Unwrap returns the wrapped bucket (for AsConditional: the lease is read
// and written past the cache).
func (c *Cache) Unwrap() Bucket { return c.Bucket }
