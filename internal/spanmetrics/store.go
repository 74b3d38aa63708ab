package spanmetrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
)

// Clock tells the Store the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Config configures a Store. Only Dir (or Bucket) and Retention matter in
// production; the rest have defaults.
type Config struct {
	Dir           string          // <data-dir>/metrics; ignored when Bucket is set
	Bucket        objstore.Bucket // where closed minutes go; nil: objstore.NewLocal(Dir)
	Retention     time.Duration   // how long minutes are kept; 0 keeps them forever
	MaxSeries     int             // RED series per minute (and in the Prometheus totals); default 10,000
	MaxEdges      int             // service-graph edges per minute; default 10,000
	MaxOperations int             // distinct operations per service, per minute and in the Prometheus totals; default 500
	PairWait      time.Duration   // how long a half of a call waits for the other; default 10 s
	MaxPending    int             // unmatched halves held; default 100,000
	MemoryWindow  time.Duration   // closed minutes also kept in memory; default 2 h
	Clock         Clock           // default SystemClock
}

func (c *Config) setDefaults() {
	if c.MaxSeries <= 0 {
		c.MaxSeries = 10_000
	}
	if c.MaxOperations <= 0 {
		c.MaxOperations = 500
	}
	if c.MaxEdges <= 0 {
		c.MaxEdges = 10_000
	}
	if c.PairWait <= 0 {
		c.PairWait = 10 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 100_000
	}
	if c.MemoryWindow <= 0 {
		c.MemoryWindow = 2 * time.Hour
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
}

// Store aggregates span metrics and the service graph, persists closed
// minutes and answers queries. It is safe for concurrent use.
type Store struct {
	cfg    Config
	bucket objstore.Bucket
	logger *slog.Logger
	start  time.Time

	persistMu sync.Mutex // serialises persist and retention (Tick, Close)

	mu        sync.Mutex
	closed    bool
	open      *minute
	recent    []*minute // closed minutes in memory, oldest first
	unsaved   []*minute // closed minutes not yet written, oldest first
	persisted []time.Time
	totals    map[seriesKey]*seriesTotal
	totalOps  opTracker
	edgeTot   map[edgeKey]*edgeTotal
	pairs     *pairer

	overflowOperations uint64
	overflowSeries     uint64
	overflowEdges      uint64
	persistErrors      uint64
}

// seriesTotal and edgeTotal are the since-start counts the Prometheus
// collector exposes.
type seriesTotal struct {
	seriesData
	created time.Time
}

type edgeTotal struct {
	edgeData
	created time.Time
}

// Open reads back the persisted minutes (deleting expired ones) and returns
// a Store. A nil logger discards log output.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := cfg.Bucket
	if b == nil {
		if cfg.Dir == "" {
			return nil, errors.New("spanmetrics: Config.Dir or Config.Bucket is required")
		}
		l, err := objstore.NewLocal(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("spanmetrics: %w", err)
		}
		b = l
	}
	now := cfg.Clock.Now().UTC()
	s := &Store{
		cfg: cfg, bucket: b, logger: logger, start: now,
		open:    newMinute(now.Truncate(time.Minute)),
		totals:  map[seriesKey]*seriesTotal{},
		edgeTot: map[edgeKey]*edgeTotal{},
		pairs:   newPairer(cfg.PairWait, cfg.MaxPending),
	}
	err := b.List(ctx, "", func(name string) error {
		if t, ok := parseObjectName(name); ok {
			s.persisted = append(s.persisted, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spanmetrics: list %s: %w", cfg.Dir, err)
	}
	sort.Slice(s.persisted, func(i, j int) bool { return s.persisted[i].Before(s.persisted[j]) })
	if err := s.applyRetention(ctx, now); err != nil {
		return nil, err
	}
	memFrom := now.Add(-cfg.MemoryWindow)
	for _, t := range s.persisted {
		if t.Before(memFrom) {
			continue
		}
		m, err := s.load(ctx, t)
		if err != nil {
			logger.WarnContext(ctx, "skipping unreadable span-metrics minute", "minute", t, "err", err)
			continue
		}
		if t.Equal(s.open.Start) {
			s.open = m // restarted within the minute Close wrote: keep adding to it
			for k := range m.Series {
				m.ops.admit(k.Service, k.Operation, int(^uint(0)>>1))
			}
		} else if t.Before(s.open.Start) {
			s.recent = append(s.recent, m)
		}
	}
	return s, nil
}

// objectName is the name of a minute's object: lexical order is time order.
func objectName(t time.Time) string { return t.UTC().Format("20060102T1504Z") + ".clsm" }

func parseObjectName(name string) (time.Time, bool) {
	base, ok := strings.CutSuffix(name, ".clsm")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T1504Z", base)
	return t, err == nil
}

func (s *Store) load(ctx context.Context, t time.Time) (*minute, error) {
	data, err := objstore.ReadAll(ctx, s.bucket, objectName(t))
	if err != nil {
		return nil, err
	}
	m, err := decodeMinute(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", objectName(t), err)
	}
	return m, nil
}

// record counts a batch's spans. It is called by the Tap.
func (s *Store) record(obs []spanObs) {
	if len(obs) == 0 {
		return
	}
	now := s.cfg.Clock.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.rollLocked(now)
	s.pairs.expire(now, s.emitLocked(now))
	emit := s.emitLocked(now)
	for i := range obs {
		o := &obs[i]
		k := seriesKey{Service: o.service, Operation: o.name, Kind: o.kind, Status: o.status, Root: o.root}
		if !s.open.ops.admit(k.Service, k.Operation, s.cfg.MaxOperations) {
			k.Operation = OverflowOperation
			s.overflowOperations++
		}
		sd := seriesFor(s.open.Series, k, s.cfg.MaxSeries, &s.overflowSeries)
		sd.Calls++
		if o.failed {
			sd.Errors++
		}
		sd.Hist.Observe(o.dur, o.traceID)

		tk := k
		tk.Root, tk.Operation = false, o.name // Prometheus series have no root label
		if !s.totalOps.admit(tk.Service, tk.Operation, s.cfg.MaxOperations) {
			tk.Operation = OverflowOperation
		}
		t := s.totals[tk]
		if t == nil {
			if len(s.totals) >= s.cfg.MaxSeries {
				t = s.totalOverflow(tk, now)
			} else {
				t = &seriesTotal{created: now}
				s.totals[tk] = t
			}
		}
		t.Calls++
		if o.failed {
			t.Errors++
		}
		t.Hist.Observe(o.dur, o.traceID)

		s.pairs.add(o, now, emit)
	}
}

func (s *Store) totalOverflow(k seriesKey, now time.Time) *seriesTotal {
	k.Operation = OverflowOperation
	if len(s.totals) >= s.cfg.MaxSeries+overflowReserve(s.cfg.MaxSeries) {
		k.Service = OverflowOperation
	}
	t := s.totals[k]
	if t == nil {
		t = &seriesTotal{created: now}
		s.totals[k] = t
	}
	return t
}

func (s *Store) emitLocked(now time.Time) edgeFunc {
	return func(k edgeKey, failed bool, dur time.Duration, traceID model.TraceID) {
		e := edgeFor(s.open.Edges, k, s.cfg.MaxEdges, &s.overflowEdges)
		e.Calls++
		if failed {
			e.Errors++
		}
		e.Hist.Observe(dur, traceID)

		t := s.edgeTot[k]
		if t == nil {
			if len(s.edgeTot) >= s.cfg.MaxEdges {
				k = edgeKey{Client: OverflowOperation, Server: OverflowOperation, Virtual: true}
				t = s.edgeTot[k]
			}
			if t == nil {
				t = &edgeTotal{created: now}
				s.edgeTot[k] = t
			}
		}
		t.Calls++
		if failed {
			t.Errors++
		}
		t.Hist.Observe(dur, traceID)
	}
}

// rollLocked closes the open minute once now has left it.
func (s *Store) rollLocked(now time.Time) {
	cur := now.Truncate(time.Minute)
	if !cur.After(s.open.Start) {
		return
	}
	s.closeOpenLocked()
	s.open = newMinute(cur)
}

func (s *Store) closeOpenLocked() {
	if len(s.open.Series) == 0 && len(s.open.Edges) == 0 {
		return
	}
	s.recent = append(s.recent, s.open)
	s.unsaved = append(s.unsaved, s.open)
}

// Tick rolls the minute over, expires unpaired spans, writes closed minutes
// and applies retention. Run calls it every few seconds; tests call it with
// an injected clock.
func (s *Store) Tick(ctx context.Context) error {
	now := s.cfg.Clock.Now().UTC()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.rollLocked(now)
	s.pairs.expire(now, s.emitLocked(now))
	s.mu.Unlock()

	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	err := s.persist(ctx)
	if rerr := s.applyRetention(ctx, now); rerr != nil {
		err = errors.Join(err, rerr)
	}
	s.trimMemory(now)
	return err
}

// Run calls Tick every interval (10 s when interval <= 0) until ctx is done,
// logging failures.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
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
			if err := s.Tick(ctx); err != nil {
				s.logger.ErrorContext(ctx, "span metrics maintenance failed", "err", err)
			}
		}
	}
}

// persist writes every unsaved closed minute. Closed minutes are never
// modified, so they are encoded without the lock.
func (s *Store) persist(ctx context.Context) error {
	s.mu.Lock()
	todo := append([]*minute(nil), s.unsaved...)
	s.mu.Unlock()
	var errs []error
	for _, m := range todo {
		data := encodeMinute(m)
		if err := s.bucket.Put(ctx, objectName(m.Start), bytes.NewReader(data)); err != nil {
			s.mu.Lock()
			s.persistErrors++
			s.mu.Unlock()
			errs = append(errs, fmt.Errorf("spanmetrics: write minute %s: %w", m.Start.Format(time.RFC3339), err))
			continue
		}
		s.mu.Lock()
		for i, u := range s.unsaved {
			if u == m {
				s.unsaved = append(s.unsaved[:i], s.unsaved[i+1:]...)
				break
			}
		}
		i := sort.Search(len(s.persisted), func(i int) bool { return !s.persisted[i].Before(m.Start) })
		if i == len(s.persisted) || !s.persisted[i].Equal(m.Start) {
			s.persisted = append(s.persisted, time.Time{})
			copy(s.persisted[i+1:], s.persisted[i:])
			s.persisted[i] = m.Start
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// applyRetention deletes minutes that ended more than Retention ago.
func (s *Store) applyRetention(ctx context.Context, now time.Time) error {
	if s.cfg.Retention <= 0 {
		return nil
	}
	cutoff := now.Add(-s.cfg.Retention)
	s.mu.Lock()
	var expired []time.Time
	for _, t := range s.persisted {
		if t.Add(time.Minute).After(cutoff) {
			break
		}
		expired = append(expired, t)
	}
	s.mu.Unlock()
	var errs []error
	for _, t := range expired {
		if err := s.bucket.Delete(ctx, objectName(t)); err != nil {
			errs = append(errs, fmt.Errorf("spanmetrics: delete %s: %w", objectName(t), err))
			continue
		}
		s.mu.Lock()
		if len(s.persisted) > 0 && s.persisted[0].Equal(t) {
			s.persisted = s.persisted[1:]
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	keep := s.recent[:0]
	for _, m := range s.recent {
		if m.Start.Add(time.Minute).After(cutoff) || s.isUnsavedLocked(m) {
			keep = append(keep, m)
		}
	}
	clear(s.recent[len(keep):])
	s.recent = keep
	s.mu.Unlock()
	return errors.Join(errs...)
}

func (s *Store) isUnsavedLocked(m *minute) bool {
	for _, u := range s.unsaved {
		if u == m {
			return true
		}
	}
	return false
}

// trimMemory drops saved minutes older than the memory window; queries read
// them from the bucket.
func (s *Store) trimMemory(now time.Time) {
	from := now.Add(-s.cfg.MemoryWindow)
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := s.recent[:0]
	for _, m := range s.recent {
		if !m.Start.Before(from) || s.isUnsavedLocked(m) {
			keep = append(keep, m)
		}
	}
	clear(s.recent[len(keep):])
	s.recent = keep
}

// Close writes the open minute and every unsaved one. Spans still waiting
// for their other half are dropped. Close is safe to call more than once;
// spans recorded after it are ignored.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.closeOpenLocked()
		s.open = newMinute(s.open.Start.Add(time.Minute))
	}
	s.mu.Unlock()
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	return s.persist(ctx)
}
