package block

import (
	"github.com/cespare/xxhash/v2"

	"github.com/clewtrace/clew/internal/query/predicate"
)

// keySet is a set of attribute keys (a block's resource and scope keys)
// with a 128-bit summary of them, two bits a key, that answers "not in
// the set" without the map: RuledOut asks it of every block of a search,
// and a map lookup in each of 500 blocks' maps is a cache miss in each.
type keySet struct {
	bits [2]uint64
	keys map[string]struct{}
}

func newKeySet(keys map[string]struct{}) keySet {
	s := keySet{keys: keys}
	for k := range keys {
		m := keyMask(k)
		s.bits[0] |= m[0]
		s.bits[1] |= m[1]
	}
	return s
}

// keyMask is a key's two bits of the 128.
func keyMask(key string) [2]uint64 {
	h := xxhash.Sum64String(key)
	var m [2]uint64
	for _, b := range []uint64{h & 127, h >> 7 & 127} {
		m[b/64] |= 1 << (b % 64)
	}
	return m
}

// mayHave is false only if the key whose mask m is is not in the set.
func (s *keySet) mayHave(m [2]uint64) bool {
	return s.bits[0]&m[0] == m[0] && s.bits[1]&m[1] == m[1]
}

func (s *keySet) has(key string) bool {
	_, ok := s.keys[key]
	return ok
}

// Probe is a predicate prepared once for asking many blocks RuledOut: the
// pair hashes of its equality conditions that an error status cannot
// satisfy, with their keys' masks (at most maxQuickHashes of them, as
// MayMatch).
type Probe struct {
	pred   *predicate.Compiled
	n      int
	hashes [maxQuickHashes]uint64
	masks  [maxQuickHashes][2]uint64
}

// NewProbe prepares pred for RuledOut.
func NewProbe(pred *predicate.Compiled) *Probe {
	pr := &Probe{pred: pred}
	errBits := pred.ErrorBits()
	for i, a := range pred.Attrs() {
		if errBits&(1<<i) != 0 || pr.n == maxQuickHashes {
			continue
		}
		pr.hashes[pr.n] = pairHash(a.Key, a.Value)
		pr.masks[pr.n] = keyMask(a.Key)
		pr.n++
	}
	return pr
}

// RuledOut reports that the block certainly holds no span matching the
// probe's predicate, by what costs least to ask: its time range, and its
// key=value filter (v7+) for a condition whose key no resource or scope of
// the block may have. False says nothing: MayMatch decides. It does a
// fraction of MayMatch's work (no hashing, no map lookup), so a search asks
// it of many blocks in one pass, where the CPU overlaps the blocks' cache
// misses, and MayMatch only of those that pass: at 100 M spans a search
// for a value no span holds took ~30 % less CPU (docs/benchmarks.md, ninth
// run).
func (bl *Block) RuledOut(pr *Probe) bool {
	if !pr.pred.OverlapsStart(bl.meta.MinStartUnixNano, bl.meta.MaxStartUnixNano) {
		return true
	}
	if !bl.meta.FilterLinks {
		return false
	}
	for i := range pr.n {
		if !bl.tableKeys.mayHave(pr.masks[i]) && bl.valuesLack(pr.hashes[i]) {
			return true
		}
	}
	return false
}
