package errgroups

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/clewtrace/clew/internal/minutes"
)

// Config configures a Store. Only Storage matters in production; the rest
// have defaults.
type Config struct {
	minutes.Storage               // where closed minutes go (Dir <data-dir>/errors, or the shared bucket below MinutesPrefix)
	MaxGroups       int           // groups per minute, beyond which occurrences count under OverflowGroup; default 2,000
	PairWait        time.Duration // how long an error log waits for its span; default 15 s
	MaxPending      int           // error logs waiting and recent span occurrences held; default 20,000
	Clock           minutes.Clock // default: the wall clock
}

// MinutesPrefix is where error-group minutes live in a bucket shared with
// blocks (objstore.WithPrefix; block listings skip names with a second
// slash).
const MinutesPrefix = "minutes/errgroups"

func (c *Config) setDefaults() {
	if c.MaxGroups <= 0 {
		c.MaxGroups = 2000
	}
	if c.PairWait <= 0 {
		c.PairWait = 15 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 20_000
	}
	if c.Clock == nil {
		c.Clock = minutes.SystemClock{}
	}
}

// OverflowGroup is the group ID under which occurrences beyond
// Config.MaxGroups in one minute are counted.
const OverflowGroup = "overflow"

// Per-group, per-minute (and in memory per-hour) bounds on the sets kept.
const (
	maxIDs      = 500 // distinct users, and sessions
	maxReleases = 20
	maxExamples = 20 // newest few plus the first trace of each distinct user
	newestKept  = 10
)

// Info describes a group; it is the same for all its occurrences except
// Message, which is the first one seen.
type Info struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Pattern   string `json:"pattern"` // the normalised message
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Frame     string `json:"frame"` // top in-app stack frame
}

// Example is one occurrence kept so the group can link to its traces.
type Example struct {
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID,omitempty"`
	Time    int64  `json:"time"` // unix nanoseconds
	User    string `json:"user,omitempty"`
	Session string `json:"session,omitempty"`
}

// detail is what a group keeps per minute (persisted) and per hour (memory).
type detail struct {
	Count    uint64            `json:"count"`
	Logs     uint64            `json:"logs"` // error logs joined to the group
	First    int64             `json:"first"`
	Last     int64             `json:"last"`
	Users    []string          `json:"users,omitempty"`
	Sessions []string          `json:"sessions,omitempty"`
	IDsFull  bool              `json:"idsFull,omitempty"` // a user or session set reached maxIDs
	Releases map[string]uint64 `json:"releases,omitempty"`
	Examples []Example         `json:"examples,omitempty"`
}

// obs is one occurrence (or joined log) to record.
type obs struct {
	id      string
	info    Info
	release string
	ex      Example
	log     bool // a log joined to an existing group: counts in Logs only
}

func (d *detail) add(o *obs, now int64) {
	if o.log {
		d.Logs++
	} else {
		d.Count++
	}
	if d.First == 0 || now < d.First {
		d.First = now
	}
	if now > d.Last {
		d.Last = now
	}
	d.Users, d.IDsFull = addID(d.Users, o.ex.User, d.IDsFull)
	d.Sessions, d.IDsFull = addID(d.Sessions, o.ex.Session, d.IDsFull)
	if o.release != "" {
		if d.Releases == nil {
			d.Releases = map[string]uint64{}
		}
		if _, ok := d.Releases[o.release]; ok || len(d.Releases) < maxReleases {
			d.Releases[o.release]++
		}
	}
	if o.ex.TraceID != "" && !o.log {
		d.Examples = addExample(d.Examples, o.ex)
	}
}

func addID(set []string, id string, full bool) ([]string, bool) {
	if id == "" {
		return set, full
	}
	i := sort.SearchStrings(set, id)
	if i < len(set) && set[i] == id {
		return set, full
	}
	if len(set) >= maxIDs {
		return set, true
	}
	set = append(set, "")
	copy(set[i+1:], set[i:])
	set[i] = id
	return set, full
}

// addExample keeps the first example of each distinct user and the newest
// few, within maxExamples.
func addExample(exs []Example, e Example) []Example {
	if e.User != "" {
		seen := false
		for _, x := range exs {
			if x.User == e.User {
				seen = true
				break
			}
		}
		if !seen && len(exs) < maxExamples {
			return append(exs, e)
		}
	}
	// Replace the oldest example whose user has another example (or none).
	if len(exs) < newestKept {
		return append(exs, e)
	}
	oldest := -1
	for i, x := range exs {
		if x.User != "" && !sharedUser(exs, i) {
			continue
		}
		if oldest < 0 || x.Time < exs[oldest].Time {
			oldest = i
		}
	}
	if oldest >= 0 && exs[oldest].Time <= e.Time {
		exs[oldest] = e
	}
	return exs
}

func sharedUser(exs []Example, i int) bool {
	for j, x := range exs {
		if j != i && x.User == exs[i].User {
			return true
		}
	}
	return false
}

func (d *detail) merge(o *detail) {
	d.Count += o.Count
	d.Logs += o.Logs
	if d.First == 0 || (o.First != 0 && o.First < d.First) {
		d.First = o.First
	}
	d.Last = max(d.Last, o.Last)
	d.IDsFull = d.IDsFull || o.IDsFull
	for _, u := range o.Users {
		d.Users, d.IDsFull = addID(d.Users, u, d.IDsFull)
	}
	for _, u := range o.Sessions {
		d.Sessions, d.IDsFull = addID(d.Sessions, u, d.IDsFull)
	}
	for r, n := range o.Releases {
		if d.Releases == nil {
			d.Releases = map[string]uint64{}
		}
		if _, ok := d.Releases[r]; ok || len(d.Releases) < maxReleases {
			d.Releases[r] += n
		}
	}
	for _, e := range o.Examples {
		d.Examples = addExample(d.Examples, e)
	}
}

// minute is everything recorded in one minute of ingest time.
type minute struct {
	Start  time.Time
	Infos  map[string]Info
	Groups map[string]*detail
}

func newMinute(start time.Time) *minute {
	return &minute{Start: start, Infos: map[string]Info{}, Groups: map[string]*detail{}}
}

// minuteCount is one minute of a group in memory.
type minuteCount struct {
	Minute      int64 // unix seconds of the minute's start
	Count, Logs uint64
}

// spanKey names a span for pairing logs with span occurrences.
type spanKey struct{ trace, span string }

type pendingLog struct {
	o       obs
	expires time.Time
}

type recentSpan struct {
	id      string
	expires time.Time
}

// traceIdent is what is known of a recent trace's user and session, and
// the groups that had an occurrence in it before its user was known.
type traceIdent struct {
	user, session string
	expires       time.Time
	waiting       []string // group IDs
}

// Store aggregates error groups, persists closed minutes and answers
// queries. It is safe for concurrent use.
type Store struct {
	cfg     Config
	journal *minutes.Journal[*minute]
	logger  *slog.Logger

	mu        sync.Mutex
	closed    bool
	open      *minute
	infos     map[string]Info
	counts    map[string][]minuteCount     // by group, oldest first
	hours     map[string]map[int64]*detail // by group, then hour start (unix seconds)
	recent    map[spanKey]recentSpan       // span occurrences logs may join
	pending   map[spanKey][]pendingLog     // error logs waiting for their span
	traces    map[string]*traceIdent       // recent traces' users, by trace ID
	sessUser  map[string]string            // session ID → user ID
	nPending  int
	expiredAt time.Time // last expiry sweep; sweeps run at most once a second
	overflow  uint64
}

// Open reads back the persisted minutes (every writer's, in a shared
// bucket) and returns a Store. A nil logger discards log output.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	j, err := minutes.Open(ctx, minutes.Options[*minute]{Storage: cfg.Storage, Suffix: ".cleg", Encode: encodeMinute, Decode: decodeMinute})
	if err != nil {
		return nil, fmt.Errorf("errgroups: %w", err)
	}
	now := cfg.Clock.Now().UTC()
	s := &Store{
		cfg: cfg, journal: j, logger: logger,
		open:     newMinute(now.Truncate(time.Minute)),
		infos:    map[string]Info{},
		counts:   map[string][]minuteCount{},
		hours:    map[string]map[int64]*detail{},
		recent:   map[spanKey]recentSpan{},
		pending:  map[spanKey][]pendingLog{},
		traces:   map[string]*traceIdent{},
		sessUser: map[string]string{},
	}
	if err := j.Expire(ctx, now); err != nil {
		return nil, fmt.Errorf("errgroups: %w", err)
	}
	// A minute this process shares with its previous life (a restart
	// within the minute) is a second object: its counts add up.
	s.load(ctx, j.Keys(time.Time{}, now.Add(time.Minute)))
	return s, nil
}

// load reads minutes into the in-memory aggregates.
func (s *Store) load(ctx context.Context, keys []minutes.Key) {
	for _, k := range keys {
		m, err := s.journal.Read(ctx, k)
		if err != nil {
			s.logger.WarnContext(ctx, "skipping unreadable error-group minute", "minute", k.Start, "writer", k.Writer, "err", err)
			continue
		}
		s.mu.Lock()
		s.loadLocked(m)
		s.mu.Unlock()
	}
}

// loadLocked adds a persisted minute to the in-memory aggregates.
func (s *Store) loadLocked(m *minute) {
	for id, d := range m.Groups {
		if info, ok := m.Infos[id]; ok {
			if _, known := s.infos[id]; !known {
				s.infos[id] = info
			}
		}
		s.addCountLocked(id, m.Start.Unix(), d.Count, d.Logs)
		s.hourLocked(id, m.Start).merge(d)
	}
}

func (s *Store) addCountLocked(id string, minuteStart int64, count, logs uint64) {
	cs := s.counts[id]
	// Usually the last minute, or one after it; another node's minutes
	// may arrive later than this node's own.
	i := len(cs)
	for i > 0 && cs[i-1].Minute > minuteStart {
		i--
	}
	if i > 0 && cs[i-1].Minute == minuteStart {
		cs[i-1].Count += count
		cs[i-1].Logs += logs
		return
	}
	s.counts[id] = slices.Insert(cs, i, minuteCount{Minute: minuteStart, Count: count, Logs: logs})
}

func (s *Store) hourLocked(id string, t time.Time) *detail {
	hs := s.hours[id]
	if hs == nil {
		hs = map[int64]*detail{}
		s.hours[id] = hs
	}
	h := t.Truncate(time.Hour).Unix()
	d := hs[h]
	if d == nil {
		d = &detail{}
		hs[h] = d
	}
	return d
}

// record adds occurrences, logs and what spans say of their trace's user.
// It is called by the taps.
func (s *Store) record(occs []obs, logs []obs, logKeys []spanKey, ids []ident) {
	if len(occs) == 0 && len(logs) == 0 && len(ids) == 0 {
		return
	}
	now := s.cfg.Clock.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.rollLocked(now)
	s.expireLocked(now)
	for _, id := range ids {
		s.identLocked(id, now)
	}
	for i := range occs {
		o := &occs[i]
		s.resolveUserLocked(o, now)
		s.addLocked(o, now)
		k := spanKey{o.ex.TraceID, o.ex.SpanID}
		if o.ex.SpanID == "" {
			continue
		}
		if waiting := s.pending[k]; len(waiting) > 0 {
			delete(s.pending, k)
			s.nPending -= len(waiting)
			for j := range waiting {
				l := waiting[j].o
				l.id, l.info, l.log = o.id, o.info, true
				s.addLocked(&l, now)
			}
		}
		if len(s.recent) < s.cfg.MaxPending {
			s.recent[k] = recentSpan{id: o.id, expires: now.Add(s.cfg.PairWait)}
		}
	}
	for i := range logs {
		l := logs[i]
		k := logKeys[i]
		s.resolveUserLocked(&l, now)
		if r, ok := s.recent[k]; ok && k.span != "" {
			l.id, l.info, l.log = r.id, s.infos[r.id], true
			s.addLocked(&l, now)
			continue
		}
		if k.span == "" || s.nPending >= s.cfg.MaxPending {
			s.addLocked(&l, now) // no span to wait for: a group of its own
			continue
		}
		s.pending[k] = append(s.pending[k], pendingLog{o: l, expires: now.Add(s.cfg.PairWait)})
		s.nPending++
	}
}

// identLocked learns a trace's (and a session's) user; groups that had an
// occurrence in the trace before get the user now.
func (s *Store) identLocked(id ident, now time.Time) {
	if id.user != "" && id.session != "" {
		if _, ok := s.sessUser[id.session]; !ok && len(s.sessUser) >= s.cfg.MaxPending {
			for k := range s.sessUser { // full: forget one
				delete(s.sessUser, k)
				break
			}
		}
		s.sessUser[id.session] = id.user
	}
	t := s.traces[id.trace]
	if t == nil {
		if len(s.traces) >= s.cfg.MaxPending {
			return
		}
		t = &traceIdent{}
		s.traces[id.trace] = t
	}
	t.expires = now.Add(2 * s.cfg.PairWait)
	if t.session == "" {
		t.session = id.session
	}
	if t.user == "" {
		t.user = id.user
		if t.user == "" && t.session != "" {
			t.user = s.sessUser[t.session]
		}
		if t.user != "" {
			for _, gid := range t.waiting {
				s.addUserLocked(gid, id.trace, t.user, t.session, now)
			}
			t.waiting = nil
		}
	}
}

// resolveUserLocked fills an occurrence's user (and session) from its
// trace or session; when neither is known yet, the trace remembers the
// group so a later span naming the user completes it.
func (s *Store) resolveUserLocked(o *obs, now time.Time) {
	t := s.traces[o.ex.TraceID]
	if t != nil && o.ex.Session == "" {
		o.ex.Session = t.session
	}
	if o.ex.User != "" {
		return
	}
	if t != nil {
		o.ex.User = t.user
	}
	if o.ex.User == "" && o.ex.Session != "" {
		o.ex.User = s.sessUser[o.ex.Session]
	}
	if o.ex.User != "" || o.log {
		return
	}
	if t == nil {
		if len(s.traces) >= s.cfg.MaxPending {
			return
		}
		t = &traceIdent{session: o.ex.Session, expires: now.Add(2 * s.cfg.PairWait)}
		s.traces[o.ex.TraceID] = t
	}
	if len(t.waiting) < 16 {
		t.waiting = append(t.waiting, o.id)
	}
}

// addUserLocked records a user learnt after the occurrence: in the open
// minute (so it is persisted) and the current hour, and on the trace's
// example.
func (s *Store) addUserLocked(gid, trace, user, session string, now time.Time) {
	if _, ok := s.open.Groups[gid]; !ok && len(s.open.Groups) >= s.cfg.MaxGroups {
		return
	}
	if _, ok := s.open.Infos[gid]; !ok {
		s.open.Infos[gid] = s.infos[gid]
	}
	d := s.open.Groups[gid]
	if d == nil {
		d = &detail{}
		s.open.Groups[gid] = d
	}
	for _, d := range []*detail{d, s.hourLocked(gid, now)} {
		d.Users, d.IDsFull = addID(d.Users, user, d.IDsFull)
		d.Sessions, d.IDsFull = addID(d.Sessions, session, d.IDsFull)
	}
	for _, hd := range s.hours[gid] {
		for i := range hd.Examples {
			if hd.Examples[i].TraceID == trace && hd.Examples[i].User == "" {
				hd.Examples[i].User = user
			}
		}
	}
}

// expireLocked turns error logs whose span never showed up as an occurrence
// into occurrences of their own groups, and forgets old span occurrences.
func (s *Store) expireLocked(now time.Time) {
	if now.Sub(s.expiredAt) < time.Second && !now.Before(s.expiredAt) {
		return
	}
	s.expiredAt = now
	for k, r := range s.recent {
		if !now.Before(r.expires) {
			delete(s.recent, k)
		}
	}
	for k, t := range s.traces {
		if !now.Before(t.expires) {
			delete(s.traces, k)
		}
	}
	for k, ls := range s.pending {
		if now.Before(ls[0].expires) {
			continue
		}
		delete(s.pending, k)
		s.nPending -= len(ls)
		for i := range ls {
			s.addLocked(&ls[i].o, now)
		}
	}
}

func (s *Store) addLocked(o *obs, now time.Time) {
	id := o.id
	if _, ok := s.open.Groups[id]; !ok && len(s.open.Groups) >= s.cfg.MaxGroups {
		s.overflow++
		id = OverflowGroup
		o.info = Info{Type: "overflow", Message: "more distinct error groups in one minute than the limit", Pattern: "more distinct error groups in one minute than the limit"}
	}
	if _, ok := s.open.Infos[id]; !ok {
		s.open.Infos[id] = o.info
	}
	if _, ok := s.infos[id]; !ok {
		s.infos[id] = o.info
	}
	d := s.open.Groups[id]
	if d == nil {
		d = &detail{}
		s.open.Groups[id] = d
	}
	ns := now.UnixNano()
	d.add(o, ns)
	s.hourLocked(id, now).add(o, ns)
	c, l := uint64(1), uint64(0)
	if o.log {
		c, l = 0, 1
	}
	s.addCountLocked(id, s.open.Start.Unix(), c, l)
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
	if len(s.open.Groups) > 0 {
		s.journal.Add(s.open.Start, s.open)
	}
}

// Tick rolls the minute over, settles waiting logs, writes closed minutes,
// reads minutes other nodes wrote (in a shared bucket) and applies
// retention. Run calls it every few seconds; tests call it with an
// injected clock.
func (s *Store) Tick(ctx context.Context) error {
	now := s.cfg.Clock.Now().UTC()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.expireLocked(now)
	s.rollLocked(now)
	s.mu.Unlock()

	err := s.journal.Maintain(ctx, now, s.load)
	s.forget(now)
	if err != nil {
		return fmt.Errorf("errgroups: %w", err)
	}
	return nil
}

// Run calls Tick every interval (10 s when interval <= 0) until ctx is done,
// logging failures.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	minutes.RunEvery(ctx, interval, s.Tick, s.logger, "error-group maintenance failed")
}

// forget drops minutes that ended more than Retention ago (and hours that
// ended then) from memory; the journal deletes their objects.
func (s *Store) forget(now time.Time) {
	if s.cfg.Retention <= 0 {
		return
	}
	cut := now.Add(-s.cfg.Retention).Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, cs := range s.counts {
		i := 0
		for i < len(cs) && cs[i].Minute+60 <= cut {
			i++
		}
		if i == len(cs) {
			delete(s.counts, id)
			delete(s.hours, id)
			delete(s.infos, id)
			continue
		}
		s.counts[id] = cs[i:]
		for h := range s.hours[id] {
			if h+3600 <= cut {
				delete(s.hours[id], h)
			}
		}
	}
}

// Close settles waiting logs and writes the open minute and every unsaved
// one. It is safe to call more than once; records after it are ignored.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		now := s.cfg.Clock.Now().UTC()
		s.expireLocked(now.Add(s.cfg.PairWait))
		s.closed = true
		s.closeOpenLocked()
		s.open = newMinute(s.open.Start.Add(time.Minute))
	}
	s.mu.Unlock()
	if err := s.journal.Flush(ctx); err != nil {
		return fmt.Errorf("errgroups: %w", err)
	}
	return nil
}
