#!/usr/bin/env bash
# Query latencies and object-store requests on local disk and on a real S3
# server (versitygw on loopback), on the same blocks: docs/benchmarks.md,
# "Trace by ID on an S3 bucket".
#
#   bench/query-s3.sh                 SPANS=10000000 N=100 N_KIND=20
#   DATA=/tmp/data10m IDS=/tmp/ids10m.txt bench/query-s3.sh   reuse blocks written before
#   KINDS=id bench/query-s3.sh        only these kinds (clewbench query --kinds)
#
# clewbench blocks writes the blocks into a data directory; versitygw's posix
# backend stores a bucket's objects as files below <root>/<bucket>/, so a copy
# of that blocks/ directory there is a bucket holding the same blocks. Then:
#   1. Clew on the local data directory: clewbench query --cold-warm;
#   2. Clew on the bucket (empty data directory, fresh --cache-dir), the same;
#   3. for each search kind alone, a fresh Clew on the bucket: GETs of its
#      cold requests (the first kinds of run 2 leave the cache warm for the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SPANS=${SPANS:-10000000} N=${N:-100} N_KIND=${N_KIND:-20}
build_tools
KINDS=${KINDS:-id,tag,rare,user24h,session24h,absent24h,absent7d}
if [ -n "${DATA:-}" ]; then
  data=$DATA ids=${IDS:?IDS names the trace IDs written with DATA}
else
  data=$work/data ids=$work/ids.txt
  "$work/clewbench" blocks --data-dir "$data" --spans "$SPANS" --ids-out "$ids" | tail -1
fi

gw=${CLEW_VERSITYGW:-$HOME/.cache/clew/tools/versitygw-v1.8.0/versitygw}
if [ ! -x "$gw" ]; then
  mkdir -p "$(dirname "$gw")"
  GOBIN=$(dirname "$gw") go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
export AWS_ACCESS_KEY_ID=bench-access AWS_SECRET_ACCESS_KEY=bench-secret-0123456789
S3=127.0.0.1:$("$work/clewbench" ports --n 1)
mkdir -p "$work/s3root"
ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY "$gw" --port "$S3" posix "$work/s3root" >"$work/gw.log" 2>&1 &
GW_PID=$!
trap 'stop_clew; kill $GW_PID 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 600); do
  curl -s -o /dev/null "http://$S3/" && break
  sleep 0.1
done
curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X PUT "http://$S3/clew"
cp -r "$data/blocks/." "$work/s3root/clew/"

echo "== local disk (load $(cut -d' ' -f1-3 /proc/loadavg))"
start_clew --data-dir "$data"
"$work/clewbench" query --query "http://$QUERY_ADDR" --ids "$ids" --n "$N" --cold-warm --kinds "$KINDS"
stop_clew

s3clew() {
  rm -rf "$work/s3data" "$work/s3cache"
  start_clew --data-dir "$work/s3data" --storage s3 --s3-bucket clew --s3-endpoint "$S3" --s3-insecure \
    --cache-dir "$work/s3cache"
}
echo "== S3, versitygw on loopback (load $(cut -d' ' -f1-3 /proc/loadavg))"
s3clew
"$work/clewbench" query --query "http://$QUERY_ADDR" --admin "http://$ADMIN_ADDR" --ids "$ids" --n "$N" --cold-warm --kinds "$KINDS"
stop_clew
for kind in ${KINDS//,/ }; do
  echo "== S3, $kind alone on a fresh node"
  s3clew
  "$work/clewbench" query --query "http://$QUERY_ADDR" --admin "http://$ADMIN_ADDR" --ids "$ids" --n "$N_KIND" \
    --cold-warm --kinds "$kind"
  stop_clew
done
