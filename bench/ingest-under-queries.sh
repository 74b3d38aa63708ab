#!/usr/bin/env bash
# Ingest rate alone, then beside 4 heavy searches (limit 1500, last hour),
# against one fresh Clew with default settings. Issue 15 asks that ingest keep
# at least 80 % of its rate while the queries run.
#
#   bench/ingest-under-queries.sh      FILL=60s PHASE=60s QUERIES=4 by default
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
FILL=${FILL:-60s}
PHASE=${PHASE:-60s}
QUERIES=${QUERIES:-4}
build_tools
start_clew
ingest() {
  "$work/clewbench" ingest --target "$OTLP_GRPC" --admin "$ADMIN_ADDR" --duration "$1" --conns 4 --concurrency 4 | grep -E "^acked|^max rss"
}
echo "fill (data for the queries to read):"; ingest "$FILL"
echo "ingest alone:"; ingest "$PHASE"
echo "ingest beside $QUERIES heavy queries:"
"$work/clewbench" heavy --query "http://$QUERY_ADDR" --concurrency "$QUERIES" --duration "$PHASE" &
qpid=$!
ingest "$PHASE"
wait "$qpid"
grep -m3 "status=500" "$work/clew.log" | cut -c1-400 || true
