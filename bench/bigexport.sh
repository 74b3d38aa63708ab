#!/usr/bin/env bash
# Peak RSS of a fresh Clew (default settings, its 900 MiB soft memory limit)
# while N concurrent exports of SIZE wire bytes arrive over gRPC, then over
# OTLP/HTTP (a fresh Clew each). Loopback only, on free ports.
#
#   bench/bigexport.sh            N=8 SIZE=65011712 (62 MiB) by default
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${N:-8}
SIZE=${SIZE:-65011712}
build_tools
for transport in grpc http; do
  rm -rf "$work/data"
  start_clew
  if [ "$transport" = grpc ]; then target=(--grpc "$OTLP_GRPC"); else target=(--http "http://$OTLP_HTTP/v1/traces"); fi
  echo -n "$transport: "
  "$work/clewbench" bigexport "${target[@]}" --n "$N" --size "$SIZE"
  echo "$transport: clew peak RSS $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$CLEW_PID/status")"
  stop_clew
done
