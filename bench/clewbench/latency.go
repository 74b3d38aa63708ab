package main

import (
	"fmt"
	"slices"
	"time"
)

// latencySummary formats name, the count, and the median, 99th percentile
// and maximum of lat (sorted in place), each rounded to round. An empty
// list is said to be so rather than indexed.
func latencySummary(name string, width int, lat []time.Duration, round time.Duration) string {
	if len(lat) == 0 {
		return fmt.Sprintf("%-*s n=0 (not run)", width, name)
	}
	slices.Sort(lat)
	return fmt.Sprintf("%-*s n=%d p50 %9s  p99 %9s  max %9s", width, name, len(lat),
		lat[len(lat)/2].Round(round), lat[len(lat)*99/100].Round(round), lat[len(lat)-1].Round(round))
}
