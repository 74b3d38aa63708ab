package spanmetrics

import (
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// OverflowOperation is the operation (and, when even that overflows, the
// service) under which spans of series beyond the cardinality cap are counted.
const OverflowOperation = "__overflow__"

// seriesKey identifies one RED series.
type seriesKey struct {
	Service   string
	Operation string
	Kind      model.SpanKind
	Status    model.StatusCode
	// Root marks spans without a parent. A service with no SERVER or
	// CONSUMER spans (a load generator, a cron job) is measured by its
	// roots: counting all its spans would count each action once per
	// span it contains. Prometheus series do not carry it.
	Root bool
}

// seriesData is one series' counts in one minute (or since start, for the
// Prometheus totals).
type seriesData struct {
	Calls  uint64
	Errors uint64
	Hist   Histogram
}

// edgeKey identifies one service-graph edge.
type edgeKey struct {
	Client         string
	Server         string
	ConnectionType string
	Virtual        bool // Server is a virtual node (a database, an uninstrumented peer)
}

// edgeData is one edge's counts; Hist holds server-side durations.
type edgeData struct {
	Calls  uint64
	Errors uint64
	Hist   Histogram
}

// minute holds everything aggregated in one minute of ingest time.
type minute struct {
	Start  time.Time // truncated to the minute, UTC
	Series map[seriesKey]*seriesData
	Edges  map[edgeKey]*edgeData
	ops    opTracker // the open minute's operations per service (not persisted)
	writer string    // the journal writer whose minute this is (not persisted)
}

// opTracker counts the distinct operations of each service, so that a
// service naming spans after raw URLs or IDs cannot flood the metrics: past
// the cap, new operations are counted as OverflowOperation, as the
// OpenTelemetry Collector's spanmetrics connector does past its cardinality
// limit.
type opTracker struct {
	seen       map[[2]string]struct{}
	perService map[string]int
}

// admit reports whether service's operation op is, or may become, one of
// its at most limit tracked operations.
func (t *opTracker) admit(service, op string, limit int) bool {
	if t.seen == nil {
		t.seen = map[[2]string]struct{}{}
		t.perService = map[string]int{}
	}
	k := [2]string{service, op}
	if _, ok := t.seen[k]; ok {
		return true
	}
	if t.perService[service] >= limit {
		return false
	}
	t.seen[k] = struct{}{}
	t.perService[service]++
	return true
}

func newMinute(start time.Time) *minute {
	return &minute{Start: start, Series: map[seriesKey]*seriesData{}, Edges: map[edgeKey]*edgeData{}}
}

// overflowReserve is how many extra overflow series may exist beyond the cap:
// one "<service>/__overflow__" series per kind and status for the first few
// services, then a single "__overflow__/__overflow__" per kind and status.
func overflowReserve(limit int) int { return limit/10 + 16 }

// seriesFor returns the series for k, creating it within limit; beyond the
// limit spans are counted in an overflow series, so memory stays bounded at
// limit + overflowReserve(limit) + 18 series.
func seriesFor(m map[seriesKey]*seriesData, k seriesKey, limit int, overflowed *uint64) *seriesData {
	if s := m[k]; s != nil {
		return s
	}
	if len(m) >= limit {
		*overflowed++
		k.Operation = OverflowOperation
		if s := m[k]; s != nil {
			return s
		}
		if len(m) >= limit+overflowReserve(limit) {
			k.Service = OverflowOperation
			if s := m[k]; s != nil {
				return s
			}
		}
	}
	s := &seriesData{}
	m[k] = s
	return s
}

// edgeFor is seriesFor for edges: beyond the limit, edges are counted as
// client → "__overflow__", then "__overflow__" → "__overflow__".
func edgeFor(m map[edgeKey]*edgeData, k edgeKey, limit int, overflowed *uint64) *edgeData {
	if e := m[k]; e != nil {
		return e
	}
	if len(m) >= limit {
		*overflowed++
		k = edgeKey{Client: k.Client, Server: OverflowOperation, Virtual: true}
		if e := m[k]; e != nil {
			return e
		}
		if len(m) >= limit+overflowReserve(limit) {
			k.Client = OverflowOperation
			if e := m[k]; e != nil {
				return e
			}
		}
	}
	e := &edgeData{}
	m[k] = e
	return e
}
