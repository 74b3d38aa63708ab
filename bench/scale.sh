#!/usr/bin/env bash
# Reads at 10 M and at 100 M stored spans (issue 10: "the 100 M figures
# within 2x of the 10 M figures"), measured with one build in one session.
#
#   bench/scale.sh [DATA_ROOT]
#
# DATA_ROOT (default /tmp/clew-scale) holds data10m/ and data100m/, written
# by `clewbench blocks` (the block writer, the span pool `clewbench ingest`
# replays) when missing and reused when present — writing 100 M spans takes
# ~7 min on a quiet 2-core machine. Each data set's span window ends when
# its writing started (recorded in DATA_ROOT/at10m, at100m), and
# `clewbench query --at` ends the searches' windows there, so data written
# earlier is searched over the same windows.
#
# For each size: Clew on free ports (bench/lib.sh), every `clewbench query`
# kind --n times (N, default 200) with Clew's CPU time per query (from
# /proc), the load average, and Clew's peak RSS; with PROFILE=1 also a CPU
# profile of a second pass (DATA_ROOT/cpu<size>m.pprof, 40 s).
# Before each size the data set is read once (WARM=1, the default), so
# every run finds it in the page cache: this VM reclaims page cache left
# untouched for a few minutes, and a run that reads a data set idle since
# then measures the disk on its first queries (WARM=0 measures exactly
# that: what cold blocks cost).
# SIZES (default "10 100") picks the sizes. CLEW_BIN runs another clew
# binary (an earlier build, for before/after on the same data) instead of
# the one built here (bench/lib.sh's start_clew honours it).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

root=${1:-/tmp/clew-scale}
n=${N:-200}
sizes=${SIZES:-10 100}
mkdir -p "$root"
build_tools

ticks() { awk '{print $14 + $15}' "/proc/$CLEW_PID/stat"; }
hz=$(getconf CLK_TCK)

for size in $sizes; do
  dir=$root/data${size}m
  if [ ! -d "$dir/blocks" ]; then
    date -u +%Y-%m-%dT%H:%M:%SZ >"$root/at${size}m"
    nice -n 10 "$work/clewbench" blocks --data-dir "$dir" --spans "${size}000000" --ids-out "$root/ids${size}m.txt"
  fi
  at=$(cat "$root/at${size}m")
  if [ "${WARM:-1}" = 1 ]; then
    cat "$dir"/blocks/*/* >/dev/null
  fi
  start_clew --data-dir "$dir"
  echo "== ${size} M spans ($(ls "$dir/blocks" | grep -vc quarantine) blocks, $(du -sb "$dir/blocks" | cut -f1) bytes), windows end $at"
  for kind in id tag tagsum tempotag rare user24h session24h absent24h absent7d; do
    before=$(ticks)
    out=$("$work/clewbench" query --query "http://$QUERY_ADDR" --ids "$root/ids${size}m.txt" --n "$n" --kinds "$kind" --at "$at")
    after=$(ticks)
    printf '%s  cpu/query %s ms  load %s\n' "$out" "$(awk -v a="$before" -v b="$after" -v hz="$hz" -v n="$n" 'BEGIN{printf "%.2f", (b-a)*1000/hz/n}')" "$(cut -d' ' -f1-3 /proc/loadavg)"
  done
  if [ "${PROFILE:-0}" = 1 ]; then
    curl -s -o "$root/cpu${size}m.pprof" "http://$ADMIN_ADDR/debug/pprof/profile?seconds=40" &
    prof=$!
    "$work/clewbench" query --query "http://$QUERY_ADDR" --ids "$root/ids${size}m.txt" --n "$n" --at "$at" >/dev/null
    wait "$prof"
    cp "$work/clew" "$root/clew.bin" # the binary the profile belongs to
  fi
  echo "peak RSS $(awk '/VmHWM/ {print $2, $3}' "/proc/$CLEW_PID/status")"
  stop_clew
done
