#!/usr/bin/env bash
# Starts a fresh Clew with an optional pipeline config, replays OTLP load at it
# with clewbench for DURATION, then stops it. Prints clewbench's summary.
#
#   bench/ingest.sh [config.yaml]          DURATION=120s by default
#   DURATION=40s bench/ingest.sh bench/configs/sampling.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-120s}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/clew" ./cmd/clew
go build -o "$work/clewbench" ./bench/clewbench
args=(--data-dir "$work/data" --log-level warn --otlp-grpc-addr 127.0.0.1:4317 --otlp-http-addr 127.0.0.1:4318
  --query-addr 127.0.0.1:16686 --admin-addr 127.0.0.1:14269 --tempo-addr 127.0.0.1:3200 --jaeger-http-addr= --jaeger-compact-addr=
  --jaeger-binary-addr= --zipkin-addr=)
[ $# -gt 0 ] && args+=(--config "$1")
"$work/clew" "${args[@]}" 2>"$work/clew.log" &
pid=$!
for _ in $(seq 100); do curl -sf 127.0.0.1:14269/readyz >/dev/null && break; sleep 0.1; done
"$work/clewbench" ingest --target 127.0.0.1:4317 --admin 127.0.0.1:14269 --duration "$DURATION" \
  --conns 4 --concurrency 4 --ids-out "${IDS_OUT:-$work/ids.txt}" | tail -3
if [ -n "${QUERY:-}" ]; then
  "$work/clewbench" query --query http://127.0.0.1:16686 --ids "${IDS_OUT:-$work/ids.txt}" --n 200
fi
if [ -n "${TRACEQL:-}" ]; then
  "$work/clewbench" traceql --tempo http://127.0.0.1:3200 ${TRACEQL_ARGS:-}
fi
