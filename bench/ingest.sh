#!/usr/bin/env bash
# Starts a fresh Clew with an optional pipeline config, replays OTLP load at it
# with clewbench for DURATION, then stops it. Prints clewbench's summary.
#
#   bench/ingest.sh [config.yaml]          DURATION=120s by default
#   DURATION=40s bench/ingest.sh bench/configs/sampling.yaml
#   QUERY=1 bench/ingest.sh                then the query latencies (clewbench query)
#   TRACEQL=1 TRACEQL_ARGS="--n 3" bench/ingest.sh   then TraceQL through the Tempo API
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-120s}
build_tools
config=()
[ $# -gt 0 ] && config=(--config "$1")
start_clew "${config[@]}"
"$work/clewbench" ingest --target "$OTLP_GRPC" --admin "$ADMIN_ADDR" --duration "$DURATION" \
  --conns 4 --concurrency 4 --ids-out "${IDS_OUT:-$work/ids.txt}" | tail -3
if [ -n "${QUERY:-}" ]; then
  "$work/clewbench" query --query "http://$QUERY_ADDR" --ids "${IDS_OUT:-$work/ids.txt}" --n 200
fi
if [ -n "${TRACEQL:-}" ]; then
  "$work/clewbench" traceql --tempo "http://$TEMPO_ADDR" ${TRACEQL_ARGS:-}
fi
