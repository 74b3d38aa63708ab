package minutes

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
)

// Gate says whether this node may delete expired minutes of a shared
// bucket right now. The compactor lease (package cluster) implements it.
type Gate interface {
	Held(ctx context.Context) bool
}

// Clock tells a store the time, which decides the minute a record falls
// in; tests inject a fake one.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Key names one stored minute: its start and the process that wrote it.
type Key struct {
	Start  time.Time // truncated to the minute, UTC
	Writer string    // "" for objects written before names carried a writer
}

func compareKeys(a, b Key) int {
	if c := a.Start.Compare(b.Start); c != 0 {
		return c
	}
	return strings.Compare(a.Writer, b.Writer)
}

// Storage says where minutes go and for how long. Span metrics and error
// groups embed it in their Config and hand it to Open.
type Storage struct {
	// Bucket is where minutes go: on --storage s3 the bucket shared with
	// blocks, seen below a prefix of the journal's own
	// (objstore.WithPrefix). Nil: Dir.
	Bucket objstore.Bucket
	// Dir is a local directory of the journal's own, used when Bucket is
	// nil (<data-dir>/metrics with --storage local).
	Dir string
	// Writer is this process's name in its objects (the node ID). It must
	// be unique per process, not only per node: a restarted process that
	// reused its predecessor's name would replace the predecessor's object
	// of the minute they share. Characters other than letters, digits, '-'
	// and '_' become '-'. Empty: a random name.
	Writer string
	// Deleter, when set, is asked before expired minutes are deleted; a
	// node that does not hold it deletes nothing and leaves the deletes to
	// the node that does (the compactor lease on a shared bucket). Nil:
	// this journal deletes (a bucket or directory of its own).
	Deleter Gate
	// Retention is how long a minute is kept after it ends; 0 keeps
	// minutes forever.
	Retention time.Duration
}

// Options configures a Journal. Bucket (or Dir), Suffix, Encode and
// Decode are required.
type Options[M any] struct {
	Storage
	// Suffix ends every object name (".clsm"); objects without it are not
	// this journal's.
	Suffix string
	Encode func(M) ([]byte, error)
	Decode func([]byte) (M, error)
	// FullListEvery is how often Sync lists the whole prefix rather than
	// the last hour or two. [5 min]
	FullListEvery time.Duration
}

// Journal stores closed minutes of type M. It is safe for concurrent use.
// Added minutes must not be modified afterwards: they are encoded, and
// handed to readers, without a lock.
type Journal[M any] struct {
	o      Options[M]
	writer string

	opMu sync.Mutex // serialises Flush, Sync and Expire: one round of bucket requests at a time

	mu          sync.Mutex
	stored      []Key // in the bucket and within the retention, sorted
	expired     []Key // in the bucket, past the retention, to delete
	pending     []pendingMinute[M]
	lastFull    time.Time
	writeErrors uint64
}

type pendingMinute[M any] struct {
	key Key
	m   M
}

// recentWindow is how far back an incremental Sync lists: minutes are
// written within seconds of closing, so an hour prefix or two covers them.
const recentWindow = 10 * time.Minute

const (
	nameLayout = "20060102T1504Z"
	hourLayout = "20060102T15"
)

// Open lists the bucket's minutes under the prefix. Minutes past the
// retention are left to the next Expire.
func Open[M any](ctx context.Context, o Options[M]) (*Journal[M], error) {
	if o.Suffix == "" || o.Encode == nil || o.Decode == nil {
		return nil, errors.New("minutes: Suffix, Encode and Decode are required")
	}
	if o.Bucket == nil {
		if o.Dir == "" {
			return nil, errors.New("minutes: a Bucket or a Dir is required")
		}
		l, err := objstore.NewLocal(o.Dir)
		if err != nil {
			return nil, fmt.Errorf("minutes: %w", err)
		}
		o.Bucket = l
	}
	if o.FullListEvery <= 0 {
		o.FullListEvery = 5 * time.Minute
	}
	j := &Journal[M]{o: o, writer: cleanWriter(o.Writer)}
	keys, err := j.list(ctx, "")
	if err != nil {
		return nil, err
	}
	j.stored = keys
	return j, nil
}

func cleanWriter(w string) string {
	if w == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		return "w-" + hex.EncodeToString(b[:])
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, w)
}

// Writer is this journal's writer name, as it appears in object names.
func (j *Journal[M]) Writer() string { return j.writer }

// WriteErrors counts failed writes (each retried at the next Flush).
func (j *Journal[M]) WriteErrors() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.writeErrors
}

func (j *Journal[M]) objectName(k Key) string {
	name := k.Start.UTC().Format(nameLayout)
	if k.Writer != "" {
		name += "." + k.Writer
	}
	return name + j.o.Suffix
}

func (j *Journal[M]) parseName(name string) (Key, bool) {
	base, ok := strings.CutSuffix(name, j.o.Suffix)
	if !ok || len(base) < len(nameLayout) {
		return Key{}, false
	}
	t, err := time.Parse(nameLayout, base[:len(nameLayout)])
	if err != nil {
		return Key{}, false
	}
	writer, ok := strings.CutPrefix(base[len(nameLayout):], ".")
	if !ok && base[len(nameLayout):] != "" || ok && (writer == "" || cleanWriter(writer) != writer) {
		return Key{}, false
	}
	return Key{Start: t, Writer: writer}, true
}

// list returns the minutes whose names start with prefix, sorted.
func (j *Journal[M]) list(ctx context.Context, prefix string) ([]Key, error) {
	var keys []Key
	err := j.o.Bucket.List(ctx, prefix, func(name string) error {
		if k, ok := j.parseName(name); ok {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("minutes: list: %w", err)
	}
	slices.SortFunc(keys, compareKeys)
	return keys, nil
}

// Add queues a closed minute of this writer for the next Flush. Until it
// is written, Keys and Read serve it from memory.
func (j *Journal[M]) Add(start time.Time, m M) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = append(j.pending, pendingMinute[M]{key: Key{Start: start.UTC().Truncate(time.Minute), Writer: j.writer}, m: m})
}

// Flush writes the queued minutes, oldest first. A minute that fails stays
// queued for the next call; the errors are joined.
func (j *Journal[M]) Flush(ctx context.Context) error {
	j.opMu.Lock()
	defer j.opMu.Unlock()
	j.mu.Lock()
	todo := slices.Clone(j.pending)
	j.mu.Unlock()
	var errs []error
	for _, p := range todo {
		data, err := j.o.Encode(p.m)
		if err != nil {
			// A minute that cannot be encoded never will be: drop it.
			j.removePending(p.key, false)
			errs = append(errs, fmt.Errorf("minutes: encode %s: %w", j.objectName(p.key), err))
			continue
		}
		if err := j.o.Bucket.Put(ctx, j.objectName(p.key), bytes.NewReader(data)); err != nil {
			j.mu.Lock()
			j.writeErrors++
			j.mu.Unlock()
			errs = append(errs, fmt.Errorf("minutes: write %s: %w", j.objectName(p.key), err))
			continue
		}
		j.removePending(p.key, true)
	}
	return errors.Join(errs...)
}

func (j *Journal[M]) removePending(k Key, stored bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = slices.DeleteFunc(j.pending, func(p pendingMinute[M]) bool { return compareKeys(p.key, k) == 0 })
	if stored {
		j.stored = insertKey(j.stored, k)
	}
}

func insertKey(keys []Key, k Key) []Key {
	i, found := slices.BinarySearchFunc(keys, k, compareKeys)
	if found {
		return keys
	}
	return slices.Insert(keys, i, k)
}

func (j *Journal[M]) isExpired(k Key, now time.Time) bool {
	return j.o.Retention > 0 && !k.Start.Add(time.Minute).After(now.Add(-j.o.Retention))
}

// Sync lists the bucket for minutes other writers added since the last
// call and returns those within the retention, oldest first. Every
// FullListEvery it lists the whole prefix, which also finds minutes written
// late and forgets minutes another node deleted; otherwise it lists only
// the hours of the last few minutes.
func (j *Journal[M]) Sync(ctx context.Context, now time.Time) ([]Key, error) {
	j.opMu.Lock()
	defer j.opMu.Unlock()
	j.mu.Lock()
	full := now.Sub(j.lastFull) >= j.o.FullListEvery || now.Before(j.lastFull)
	j.mu.Unlock()
	var listed []Key
	if full {
		keys, err := j.list(ctx, "")
		if err != nil {
			return nil, err
		}
		listed = keys
	} else {
		for h := now.Add(-recentWindow).UTC().Truncate(time.Hour); !h.After(now); h = h.Add(time.Hour) {
			keys, err := j.list(ctx, h.Format(hourLayout))
			if err != nil {
				return nil, err
			}
			listed = append(listed, keys...)
		}
	}

	j.mu.Lock()
	defer j.mu.Unlock()
	if full {
		j.lastFull = now
		// Minutes no longer listed were deleted (by the node holding the
		// gate); keep only what is still there. Minutes written by this
		// journal after the listing started cannot exist: Flush waits.
		j.stored = keepListed(j.stored, listed)
		j.expired = keepListed(j.expired, listed)
	}
	var news []Key
	for _, k := range listed {
		if j.isExpired(k, now) {
			j.expired = insertKey(j.expired, k)
			continue
		}
		if _, found := slices.BinarySearchFunc(j.stored, k, compareKeys); found {
			continue
		}
		j.stored = insertKey(j.stored, k)
		if k.Writer != j.writer {
			news = append(news, k)
		}
	}
	return news, nil
}

// keepListed returns the keys of have that are in listed (both sorted).
func keepListed(have, listed []Key) []Key {
	return slices.DeleteFunc(have, func(k Key) bool {
		_, found := slices.BinarySearchFunc(listed, k, compareKeys)
		return !found
	})
}

// Expire applies the retention: minutes that ended more than Retention
// before now leave Keys, and are deleted from the bucket when this
// journal may delete (no Deleter, or the Deleter is held). A delete that
// fails is retried at the next call.
func (j *Journal[M]) Expire(ctx context.Context, now time.Time) error {
	if j.o.Retention <= 0 {
		return nil
	}
	j.opMu.Lock()
	defer j.opMu.Unlock()
	j.mu.Lock()
	n := 0
	for n < len(j.stored) && j.isExpired(j.stored[n], now) {
		n++
	}
	for _, k := range j.stored[:n] {
		j.expired = insertKey(j.expired, k)
	}
	j.stored = slices.Delete(j.stored, 0, n)
	doomed := slices.Clone(j.expired)
	j.mu.Unlock()
	if len(doomed) == 0 || (j.o.Deleter != nil && !j.o.Deleter.Held(ctx)) {
		return nil
	}
	var errs []error
	for _, k := range doomed {
		if err := j.o.Bucket.Delete(ctx, j.objectName(k)); err != nil && !errors.Is(err, objstore.ErrNotExist) {
			errs = append(errs, fmt.Errorf("minutes: delete %s: %w", j.objectName(k), err))
			continue
		}
		j.mu.Lock()
		if i, found := slices.BinarySearchFunc(j.expired, k, compareKeys); found {
			j.expired = slices.Delete(j.expired, i, i+1)
		}
		j.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Keys returns every writer's minutes that overlap [from, to) — written
// or still queued — oldest first.
func (j *Journal[M]) Keys(from, to time.Time) []Key {
	first := from.UTC().Truncate(time.Minute)
	in := func(k Key) bool { return !k.Start.Before(first) && k.Start.Before(to) }
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Key
	i, _ := slices.BinarySearchFunc(j.stored, Key{Start: first}, compareKeys)
	for ; i < len(j.stored) && in(j.stored[i]); i++ {
		out = append(out, j.stored[i])
	}
	for _, p := range j.pending {
		if in(p.key) {
			out = insertKey(out, p.key)
		}
	}
	return out
}

// Read returns one minute: from memory while it is queued, else from the
// bucket.
func (j *Journal[M]) Read(ctx context.Context, k Key) (M, error) {
	j.mu.Lock()
	for _, p := range j.pending {
		if compareKeys(p.key, k) == 0 {
			j.mu.Unlock()
			return p.m, nil
		}
	}
	j.mu.Unlock()
	var zero M
	name := j.objectName(k)
	data, err := objstore.ReadAll(ctx, j.o.Bucket, name)
	if err != nil {
		return zero, fmt.Errorf("minutes: %w", err)
	}
	m, err := j.o.Decode(data)
	if err != nil {
		return zero, fmt.Errorf("minutes: %s: %w", name, err)
	}
	return m, nil
}

// Maintain is one round of a store's upkeep: it writes queued minutes,
// hands other writers' new minutes to learn, and applies the retention.
// Every step runs even if one before failed; the errors are joined.
func (j *Journal[M]) Maintain(ctx context.Context, now time.Time, learn func(context.Context, []Key)) error {
	err := j.Flush(ctx)
	news, serr := j.Sync(ctx, now)
	learn(ctx, news)
	return errors.Join(err, serr, j.Expire(ctx, now))
}

// RunEvery calls tick every interval (10 s when interval <= 0) until ctx
// is done, logging failures with msg: the loop behind a store's Run.
func RunEvery(ctx context.Context, interval time.Duration, tick func(context.Context) error, logger *slog.Logger, msg string) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := tick(ctx); err != nil {
				logger.ErrorContext(ctx, msg, "err", err)
			}
		}
	}
}
