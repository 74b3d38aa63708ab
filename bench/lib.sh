# Shared by the bench scripts (source it after `cd` to the repository root).
#
#   build_tools                  builds clew and clewbench into $work
#   start_clew [clew flags...]   starts $work/clew (or $CLEW_BIN) on free loopback
#                                ports with data in $work/data (or $DATA), waits
#                                until it is ready,
#                                and sets CLEW_PID, OTLP_GRPC, OTLP_HTTP,
#                                QUERY_ADDR, ADMIN_ADDR, TEMPO_ADDR
#   stop_clew                    stops it (also done by the EXIT trap)
#
# Ports are chosen by the kernel (clewbench ports), so a bench run never
# clashes with another run or with the tests.

work=$(mktemp -d)
CLEW_PID=
trap 'stop_clew; rm -rf "$work"' EXIT

build_tools() {
  go build -o "$work/clew" ./cmd/clew
  go build -o "$work/clewbench" ./bench/clewbench
}

start_clew() {
  local p
  read -r -a p <<<"$("$work/clewbench" ports --n 5)"
  OTLP_GRPC=127.0.0.1:${p[0]} OTLP_HTTP=127.0.0.1:${p[1]} QUERY_ADDR=127.0.0.1:${p[2]}
  ADMIN_ADDR=127.0.0.1:${p[3]} TEMPO_ADDR=127.0.0.1:${p[4]}
  "${CLEW_BIN:-$work/clew}" --data-dir "${DATA:-$work/data}" --log-level warn --otlp-grpc-addr "$OTLP_GRPC" --otlp-http-addr "$OTLP_HTTP" \
    --query-addr "$QUERY_ADDR" --admin-addr "$ADMIN_ADDR" --tempo-addr "$TEMPO_ADDR" --jaeger-http-addr= \
    --jaeger-compact-addr= --jaeger-binary-addr= --zipkin-addr= "$@" 2>"$work/clew.log" &
  CLEW_PID=$!
  for _ in $(seq 600); do
    curl -sf "$ADMIN_ADDR/readyz" >/dev/null && return 0
    kill -0 "$CLEW_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "clew did not become ready; its log:" >&2
  cat "$work/clew.log" >&2
  return 1
}

stop_clew() {
  [ -n "$CLEW_PID" ] || return 0
  kill "$CLEW_PID" 2>/dev/null || true
  wait "$CLEW_PID" 2>/dev/null || true
  CLEW_PID=
}
