#!/usr/bin/env bash
# The issue-14 TraceQL targets on stored blocks: writes SPANS spans as blocks
# (clewbench blocks, spans ending now), starts Clew on them on free ports and
# runs clewbench traceql (p50/p99 and the CPU each request cost, from Clew's
# process_cpu_seconds_total) with the load average before each run.
#
#   SPANS=10000000 bench/traceql.sh                  this tree
#   BASE=226e368 SPANS=10000000 bench/traceql.sh     also Clew built from BASE,
#                                                    on the same blocks (written in
#                                                    BASE's format), base first
#
# N, N_METRICS: requests per search / metrics query [50, 50]; ROUNDS: how many
# times base and this tree alternate [1]. The blocks must be younger than the
# queries' hour, so the whole run writes them afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SPANS=${SPANS:-10000000} N=${N:-50} N_METRICS=${N_METRICS:-50} ROUNDS=${ROUNDS:-1}
build_tools
if [ -n "${BASE:-}" ]; then
  mkdir -p "$work/base"
  git archive "$BASE" | tar -x -C "$work/base"
  (cd "$work/base" && go build -o "$work/clew-base" ./cmd/clew && go build -o "$work/clewbench-base" ./bench/clewbench)
fi
# With BASE, the blocks are written in BASE's format, which both read.
"$work/clewbench${BASE:+-base}" blocks --data-dir "$work/data" --spans "$SPANS" | tail -1
run() {
  echo "== $1 ($(uptime | sed 's/.*load/load/'))"
  CLEW_BIN=$2 start_clew
  "$work/clewbench" traceql --tempo "http://$TEMPO_ADDR" --admin "http://$ADMIN_ADDR" --n "$N" --n-metrics "$N_METRICS"
  stop_clew
}
for _ in $(seq "$ROUNDS"); do
  [ -n "${BASE:-}" ] && run "base $BASE" "$work/clew-base"
  run "this tree ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))" "$work/clew"
done
