#!/usr/bin/env bash
# Ingest rate alone, then beside 4 heavy searches (limit 1500, last hour),
# against one fresh Clew with default settings. Issue 15 asks that ingest keep
# at least 80 % of its rate while the queries run.
#
#   bench/ingest-under-queries.sh      FILL=60s PHASE=60s QUERIES=4 by default
set -euo pipefail
cd "$(dirname "$0")/.."
FILL=${FILL:-60s}
PHASE=${PHASE:-60s}
QUERIES=${QUERIES:-4}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/clew" ./cmd/clew
go build -o "$work/clewbench" ./bench/clewbench
"$work/clew" --data-dir "$work/data" --log-level warn --otlp-grpc-addr 127.0.0.1:24317 --otlp-http-addr 127.0.0.1:24318 \
  --query-addr 127.0.0.1:26686 --admin-addr 127.0.0.1:24269 --tempo-addr 127.0.0.1:23200 --jaeger-http-addr= \
  --jaeger-compact-addr= --jaeger-binary-addr= --zipkin-addr= 2>"$work/clew.log" &
pid=$!
for _ in $(seq 100); do curl -sf 127.0.0.1:24269/readyz >/dev/null && break; sleep 0.1; done
ingest() {
  "$work/clewbench" ingest --target 127.0.0.1:24317 --admin 127.0.0.1:24269 --duration "$1" --conns 4 --concurrency 4 | grep -E "^acked|^max rss"
}
echo "fill (data for the queries to read):"; ingest "$FILL"
echo "ingest alone:"; ingest "$PHASE"
echo "ingest beside $QUERIES heavy queries:"
"$work/clewbench" heavy --query http://127.0.0.1:26686 --concurrency "$QUERIES" --duration "$PHASE" &
qpid=$!
ingest "$PHASE"
wait "$qpid"
grep -m3 "status=500" "$work/clew.log" | cut -c1-400 || true
