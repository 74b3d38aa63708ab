package segment

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// CompactionWindows are the aligned time ranges that blocks are merged
// within: level-1 blocks hold at most one 15-minute window of record
// times, level-2 blocks one 2-hour window. Merging only inside a window
// keeps merged blocks narrow in time, so retention (which drops whole
// blocks) never keeps old records alive inside a block that also holds new
// ones, and a query for a narrow window reads little.
func CompactionWindows() []time.Duration { return []time.Duration{15 * time.Minute, 2 * time.Hour} }

// PlanOptions are the knobs of PlanCompaction.
type PlanOptions struct {
	MaxCount int           // a merged block never holds more records; blocks of half or more take no part
	Blocks   int           // merge this many blocks of a window at a time
	MaxAge   time.Duration // a window is over once its end plus MaxAge is past
	Now      int64
}

// PlanCompaction picks the next group of blocks to merge, levelled as in
// Prometheus TSDB: blocks up to level L are merged within level L+1's
// window (CompactionWindows). A window's blocks are merged once o.Blocks of
// them are there, or, with two or more, once the window is over. Only
// blocks below half of o.MaxCount take part, and a merged block never
// exceeds o.MaxCount, which bounds the memory a compaction needs to about
// one head; full blocks, cut by count under load, are already narrow in
// time and are left alone. metas must be sorted by MinTime. It returns the
// indices of the group in metas and the merged block's level, or nil.
func PlanCompaction(metas []Meta, o PlanOptions) (group []int, level int) {
	for lvl, window := range CompactionWindows() {
		w := window.Nanoseconds()
		groups := map[int64][]int{} // window start -> its candidate blocks
		var order []int64
		for i, m := range metas {
			if m.Level > lvl || m.Count*2 >= o.MaxCount {
				continue
			}
			start := floorDiv(m.MinTime, w) * w
			if m.MaxTime >= start+w {
				continue // straddles a window boundary: stays as it is
			}
			if _, ok := groups[start]; !ok {
				order = append(order, start)
			}
			groups[start] = append(groups[start], i)
		}
		for _, start := range order {
			g := groups[start]
			total, n := 0, 0
			for _, i := range g {
				if total+metas[i].Count > o.MaxCount {
					break
				}
				total += metas[i].Count
				n++
			}
			g = g[:n]
			over := start+w+o.MaxAge.Nanoseconds() < o.Now
			if len(g) >= o.Blocks || (over && len(g) >= 2) {
				if len(g) > o.Blocks && !over {
					g = g[:o.Blocks]
				}
				return g, lvl + 1
			}
		}
	}
	return nil, 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// FutureSkew bounds how long after a block was written one of its records
// can end: the pipeline refuses spans more than this ahead of the clock.
const FutureSkew = time.Hour

// RetentionEnd is the end of a block's real time range: its End, but never
// later than the block's creation (from its ID) plus FutureSkew, so a
// record stamped 158 years ahead cannot keep the block and every real
// record in it forever.
func RetentionEnd(m Meta) int64 {
	end := m.End
	if created, ok := IDTime(m.ID); ok {
		end = min(end, created.Add(FutureSkew).UnixNano())
	}
	return end
}

// Backoff is the wait after the n-th block write failure in a row: 1 s
// doubling to a minute, plus up to a fifth more at random so that nodes
// sharing a bucket that comes back do not retry in step.
func Backoff(n int) time.Duration {
	d := min(time.Second<<min(max(n, 1)-1, 6), time.Minute)
	return d + rand.N(d/5+1)
}

// CompactedAway returns the IDs of blocks that some other block was merged
// from. They are left over when a crash came between writing the merged
// block and deleting its inputs, and would otherwise be read twice.
func CompactedAway(metas []Meta) map[string]bool {
	out := map[string]bool{}
	for _, m := range metas {
		for _, id := range m.Compacted {
			out[id] = true
		}
	}
	return out
}

// HideReason says why a complete block in a shared bucket is not read.
type HideReason struct {
	By      string // a block that holds all of its records (a compaction's output)
	Expired bool   // past the retention
}

// Hidden reports whether the block is not read at all.
func (r HideReason) Hidden() bool { return r.By != "" || r.Expired }

// HiddenBlocks finds the complete blocks of a shared bucket that a query
// must not read: inputs of a compaction whose output is complete (their
// records are in it), outputs of a compaction that raced another over the
// same inputs and lost (the winner's inputs include all of theirs; equal
// sets keep the lowest ID), and blocks whose RetentionEnd is before
// horizon.
func HiddenBlocks(known map[string]Meta, horizon int64) map[string]HideReason {
	out := map[string]HideReason{}
	mergersOf := map[string][]string{} // input ID -> IDs of blocks merged from it
	for id, m := range known {
		for _, in := range m.Compacted {
			mergersOf[in] = append(mergersOf[in], id)
		}
	}
	for in, mergers := range mergersOf {
		if _, ok := known[in]; !ok {
			continue
		}
		// Any merger will do; the oldest decides when the input may go.
		oldest := slices.MinFunc(mergers, func(a, b string) int {
			return cmp.Or(cmp.Compare(known[a].Created, known[b].Created), cmp.Compare(a, b))
		})
		out[in] = HideReason{By: oldest}
	}
	for id, m := range known {
		if len(m.Compacted) == 0 || out[id].By != "" {
			continue
		}
		for _, other := range mergersOf[m.Compacted[0]] {
			o := known[other]
			if other == id || !containsAll(o.Compacted, m.Compacted) {
				continue
			}
			if len(o.Compacted) > len(m.Compacted) || other < id {
				out[id] = HideReason{By: other}
				break
			}
		}
	}
	for id, m := range known {
		if RetentionEnd(m) < horizon {
			r := out[id]
			r.Expired = true
			out[id] = r
		}
	}
	return out
}

// containsAll reports whether sorted set a holds every element of sorted b.
func containsAll(a, b []string) bool {
	for _, x := range b {
		if _, ok := slices.BinarySearch(a, x); !ok {
			return false
		}
	}
	return true
}
