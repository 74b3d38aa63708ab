package spanmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/clewtrace/clew/internal/minutes"
	"github.com/clewtrace/clew/internal/model"
)

// Config configures a Store. Only Storage matters in production; the rest
// have defaults.
type Config struct {
	minutes.Storage               // where closed minutes go (Dir <data-dir>/metrics, or the shared bucket below MinutesPrefix)
	MaxSeries       int           // RED series per minute (and in the Prometheus totals); default 10,000
	MaxEdges        int           // service-graph edges per minute; default 10,000
	MaxOperations   int           // distinct operations per service, per minute and in the Prometheus totals; default 500
	PairWait        time.Duration // how long a half of a call waits for the other; default 10 s
	MaxPending      int           // unmatched halves held; default 100,000
	MemoryWindow    time.Duration // closed minutes also kept in memory; default 2 h
	Clock           minutes.Clock // default the wall clock
}

// MinutesPrefix is where span-metrics minutes live in a bucket shared with
// blocks (objstore.WithPrefix; block listings skip names with a second
// slash).
const MinutesPrefix = "minutes/spanmetrics"

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
		c.Clock = minutes.SystemClock{}
	}
}

// Store aggregates span metrics and the service graph, persists closed
// minutes and answers queries. It is safe for concurrent use.
type Store struct {
	cfg     Config
	journal *minutes.Journal[*minute]
	logger  *slog.Logger
	start   time.Time

	mu       sync.Mutex
	closed   bool
	open     *minute
	recent   []*minute // closed minutes in memory (this node's and, shared, others'), oldest first
	totals   map[seriesKey]*seriesTotal
	totalOps opTracker
	edgeTot  map[edgeKey]*edgeTotal
	pairs    *pairer

	overflowOperations uint64
	overflowSeries     uint64
	overflowEdges      uint64
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

// Open lists the persisted minutes (every writer's, in a shared bucket),
// reads those within the memory window back and returns a Store. A nil
// logger discards log output.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	j, err := minutes.Open(ctx, minutes.Options[*minute]{Storage: cfg.Storage, Suffix: ".clsm",
		Encode: func(m *minute) ([]byte, error) { return encodeMinute(m), nil }, Decode: decodeMinute})
	if err != nil {
		return nil, fmt.Errorf("spanmetrics: %w", err)
	}
	now := cfg.Clock.Now().UTC()
	s := &Store{
		cfg: cfg, journal: j, logger: logger, start: now,
		open:    newMinute(now.Truncate(time.Minute)),
		totals:  map[seriesKey]*seriesTotal{},
		edgeTot: map[edgeKey]*edgeTotal{},
		pairs:   newPairer(cfg.PairWait, cfg.MaxPending),
	}
	if err := j.Expire(ctx, now); err != nil {
		return nil, fmt.Errorf("spanmetrics: %w", err)
	}
	// A minute this process shares with its previous life (a restart
	// within the minute) is a second object: queries add the two.
	s.remember(ctx, j.Keys(now.Add(-cfg.MemoryWindow), now.Add(time.Minute)))
	return s, nil
}

// remember reads minutes into memory (those within the memory window).
func (s *Store) remember(ctx context.Context, keys []minutes.Key) {
	from := s.cfg.Clock.Now().Add(-s.cfg.MemoryWindow)
	for _, k := range keys {
		if k.Start.Before(from) {
			continue
		}
		m, err := s.journal.Read(ctx, k)
		if err != nil {
			s.logger.WarnContext(ctx, "skipping unreadable span-metrics minute", "minute", k.Start, "writer", k.Writer, "err", err)
			continue
		}
		m.writer = k.Writer
		s.mu.Lock()
		i := sort.Search(len(s.recent), func(i int) bool { return s.recent[i].Start.After(m.Start) })
		s.recent = slices.Insert(s.recent, i, m)
		s.mu.Unlock()
	}
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
	s.open.writer = s.journal.Writer()
	s.recent = append(s.recent, s.open)
	s.journal.Add(s.open.Start, s.open)
}

// Tick rolls the minute over, expires unpaired spans, writes closed
// minutes, reads minutes other nodes wrote (in a shared bucket) and applies
// retention. Run calls it every few seconds; tests call it with an
// injected clock.
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

	err := s.journal.Maintain(ctx, now, s.remember)
	s.trimMemory(now)
	if err != nil {
		return fmt.Errorf("spanmetrics: %w", err)
	}
	return nil
}

// Run calls Tick every interval (10 s when interval <= 0) until ctx is done,
// logging failures.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	minutes.RunEvery(ctx, interval, s.Tick, s.logger, "span metrics maintenance failed")
}

// trimMemory drops minutes older than the memory window or the retention;
// queries read the former from the journal (which serves minutes not yet
// written from memory).
func (s *Store) trimMemory(now time.Time) {
	from := now.Add(-s.cfg.MemoryWindow)
	cutoff := now.Add(-s.cfg.Retention)
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := s.recent[:0]
	for _, m := range s.recent {
		if !m.Start.Before(from) && (s.cfg.Retention <= 0 || m.Start.Add(time.Minute).After(cutoff)) {
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
	if err := s.journal.Flush(ctx); err != nil {
		return fmt.Errorf("spanmetrics: %w", err)
	}
	return nil
}
