package errgroups

import (
	"sort"
	"strings"
	"time"
)

// Query selects groups.
type Query struct {
	From, To time.Time // required; To after From
	Service  string    // empty: any
	Text     string    // case-insensitive substring of type, message, pattern, operation or frame
	Limit    int       // <= 0: all
}

// Group is one error group's figures over a query's window.
type Group struct {
	ID        string
	Info      Info
	Count     uint64 // occurrences in the window
	Logs      uint64 // error logs joined in the window
	First     time.Time
	Last      time.Time // first and last occurrence in the window
	FirstEver time.Time // first occurrence Clew still keeps
	Users     []string  // distinct enduser.id, at hour granularity at the window's edges
	Sessions  []string
	IDsCapped bool              // a user or session set hit its bound: the counts are lower bounds
	Releases  map[string]uint64 // service.version → occurrences
	Hourly    []HourCount       // one per hour of the window, empty hours included
	Examples  []Example         // newest first: the newest few and the first of each distinct user
	New       bool              // first seen within the 24 hours before the window's end
	Rising    bool              // the window's last hour has at least 10 and 3× the hourly average before it
}

// HourCount is one point of a group's hourly sparkline.
type HourCount struct {
	Time  time.Time
	Count uint64
}

// MaxHours bounds a sparkline; longer windows are refused by the API.
const MaxHours = 24 * 93

// Groups returns the groups with occurrences (or joined logs) in the
// window, most occurrences first.
func (s *Store) Groups(q Query) []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Group
	text := strings.ToLower(q.Text)
	for id, info := range s.infos {
		if q.Service != "" && info.Service != q.Service {
			continue
		}
		if text != "" && !matchesText(info, text) {
			continue
		}
		if g, ok := s.groupLocked(id, q.From, q.To); ok {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].ID < out[j].ID
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// Group returns one group over the window; ok is false when it has no
// occurrences there (or is unknown).
func (s *Store) Group(id string, from, to time.Time) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known := s.infos[id]; !known {
		return Group{}, false
	}
	return s.groupLocked(id, from, to)
}

// Services lists the services that have groups.
func (s *Store) Services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, info := range s.infos {
		if !seen[info.Service] {
			seen[info.Service] = true
			out = append(out, info.Service)
		}
	}
	sort.Strings(out)
	return out
}

func matchesText(i Info, text string) bool {
	for _, f := range []string{i.Type, i.Message, i.Pattern, i.Operation, i.Frame, i.Service} {
		if strings.Contains(strings.ToLower(f), text) {
			return true
		}
	}
	return false
}

func (s *Store) groupLocked(id string, from, to time.Time) (Group, bool) {
	cs := s.counts[id]
	if len(cs) == 0 {
		return Group{}, false
	}
	g := Group{ID: id, Info: s.infos[id], FirstEver: time.Unix(cs[0].Minute, 0).UTC()}
	f, t := from.Unix(), to.Unix()
	hourStart := from.Truncate(time.Hour)
	nHours := int(to.Sub(hourStart)/time.Hour) + 1
	if to.Equal(to.Truncate(time.Hour)) {
		nHours--
	}
	nHours = max(0, min(nHours, MaxHours))
	g.Hourly = make([]HourCount, nHours)
	for i := range g.Hourly {
		g.Hourly[i].Time = hourStart.Add(time.Duration(i) * time.Hour).UTC()
	}
	for _, c := range cs {
		// A minute belongs to the window when it overlaps it.
		if c.Minute+60 <= f || c.Minute >= t {
			continue
		}
		g.Count += c.Count
		g.Logs += c.Logs
		if i := int((c.Minute - hourStart.Unix()) / 3600); i >= 0 && i < len(g.Hourly) {
			g.Hourly[i].Count += c.Count
		}
	}
	if g.Count == 0 && g.Logs == 0 {
		return Group{}, false
	}
	var d detail
	for h, hd := range s.hours[id] {
		if h+3600 <= f || h >= t {
			continue
		}
		d.merge(hd)
	}
	g.Users, g.Sessions, g.IDsCapped, g.Releases = d.Users, d.Sessions, d.IDsFull, d.Releases
	g.First, g.Last = time.Unix(0, max(d.First, from.UnixNano())).UTC(), time.Unix(0, min(d.Last, to.UnixNano())).UTC()
	for _, e := range d.Examples {
		if e.Time >= from.Add(-time.Hour).UnixNano() && e.Time < to.Add(time.Hour).UnixNano() {
			g.Examples = append(g.Examples, e)
		}
	}
	sort.Slice(g.Examples, func(i, j int) bool { return g.Examples[i].Time > g.Examples[j].Time })
	g.New = !g.FirstEver.Before(to.Add(-24 * time.Hour))
	if n := len(g.Hourly); n >= 2 {
		last := g.Hourly[n-1].Count
		var before uint64
		for _, h := range g.Hourly[:n-1] {
			before += h.Count
		}
		avg := float64(before) / float64(n-1)
		g.Rising = last >= 10 && float64(last) >= 3*avg
	}
	return g, true
}
