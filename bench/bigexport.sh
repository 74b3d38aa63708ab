#!/usr/bin/env bash
# Peak RSS of a fresh Clew (default settings, its 900 MiB soft memory limit)
# while N concurrent exports of SIZE wire bytes arrive over gRPC, then over
# OTLP/HTTP (a fresh Clew each). Loopback only, on ports unlikely to clash.
#
#   bench/bigexport.sh            N=8 SIZE=65011712 (62 MiB) by default
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-8}
SIZE=${SIZE:-65011712}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/clew" ./cmd/clew
go build -o "$work/clewbench" ./bench/clewbench
for transport in grpc http; do
  rm -rf "$work/data"
  "$work/clew" --data-dir "$work/data" --log-level warn --otlp-grpc-addr 127.0.0.1:24317 --otlp-http-addr 127.0.0.1:24318 \
    --query-addr 127.0.0.1:26686 --admin-addr 127.0.0.1:24269 --tempo-addr 127.0.0.1:23200 --jaeger-http-addr= \
    --jaeger-compact-addr= --jaeger-binary-addr= --zipkin-addr= 2>"$work/clew.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf 127.0.0.1:24269/readyz >/dev/null && break; sleep 0.1; done
  if [ "$transport" = grpc ]; then target=(--grpc 127.0.0.1:24317); else target=(--http http://127.0.0.1:24318/v1/traces); fi
  echo -n "$transport: "
  "$work/clewbench" bigexport "${target[@]}" --n "$N" --size "$SIZE"
  echo "$transport: clew peak RSS $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$pid/status)"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
