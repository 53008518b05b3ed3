# shellcheck shell=bash
# ---- api: unary RPC rate vs connect-es and bare Deno.serve (h2load, h1 and h2c); RSS over time --
# Sourced by scripts/bench. Three servers side by side on 127.0.0.1, plain HTTP: acond --dev
# (--tcp, --tls off), connect-es's router on Deno.serve answering Health with a constant
# HealthResponse (the RPC stack's floor), and Deno.serve answering Health's path with a fixed
# body (scripts/bench.d/api_floor.ts). Each gets the same h2load runs, one after the other:
# Connect JSON Health (POST, application/json, `{}`), API_REQS requests (20000), 8 connections,
# h2c with 10 streams each (-m 10), HTTP/1.1 one request at a time per connection. acond and
# the connect-es floor also get native gRPC Health over h2c (a 5-byte empty envelope,
# application/grpc, te: trailers; the floor's answer has no trailers: connect-es's fetch handler
# drops them, and h2load does not read them).
# Rates are h2load's; each server's CPU per request (/proc/PID/stat over the run) is printed too.
# Memory: acond's VmRSS idle (after the readiness probes), after its first 20000 requests (the
# h2c Connect run, the first it serves) and after BENCH_API_N in all (200000: the h2c gRPC and h1
# runs, the second runs, then h2c Connect Health up to the total). BENCH_API_N=80000 is the quick
# run (40 to 80 s less, depending on the machine's load).
# Second runs: the same Connect runs on every server once more after all the first ones, for the
# steady-state rates (a server's first run includes its JIT warm-up; acond's is its first 20000
# requests). Both are printed.
api() {
  local work pids=() n=${API_REQS:-20000} total=${BENCH_API_N:-200000}
  command -v h2load >/dev/null ||
    { echo "bench: api needs h2load (Debian's nghttp2-client; scripts/setup installs it)" >&2; return 1; }
  work=$(mktemp -d /tmp/acond-bench-api.XXXXXX)
  # shellcheck disable=SC2064
  trap "for p in \${pids[@]}; do kill \$p 2>/dev/null; done; wait 2>/dev/null; rm -rf '$work'" RETURN
  local ports
  read -r -a ports < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
  local path=/acon.grpc.AconService/Health
  "$TOP/dist/acond" --dev --root "$work/root" --socket "$work/acond.sock" --tee sim \
    --tcp "127.0.0.1:${ports[0]}" --tls off >"$work/acond.log" 2>&1 &
  pids+=($!)
  "$DENO" run -A --unstable-no-legacy-abort "$TOP/scripts/bench.d/api_floor.ts" connect \
    "${ports[1]}" >"$work/connect.log" 2>&1 &
  pids+=($!)
  "$DENO" run -A --unstable-no-legacy-abort "$TOP/scripts/bench.d/api_floor.ts" bare \
    "${ports[2]}" >"$work/bare.log" 2>&1 &
  pids+=($!)
  printf '{}' >"$work/empty.json"
  printf '\0\0\0\0\0' >"$work/empty.grpc"
  local p
  for p in 0 1 2; do
    kill -0 "${pids[$p]}" || { echo "bench: server $p did not start" >&2; cat "$work"/*.log >&2; return 1; }
    for _ in $(seq 200); do
      curl -sf -o /dev/null -X POST -H 'content-type: application/json' -d '{}' \
        "http://127.0.0.1:${ports[$p]}$path" && break
      sleep 0.1
    done
    curl -sf -o /dev/null -X POST -H 'content-type: application/json' -d '{}' \
      "http://127.0.0.1:${ports[$p]}$path" ||
      { echo "bench: server $p does not answer Health" >&2; cat "$work"/*.log >&2; return 1; }
  done
  # Native gRPC must really answer grpc-status 0 (h2load sees only the HTTP status).
  curl -s --http2-prior-knowledge -D "$work/grpc.head" -o /dev/null -X POST \
    -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @"$work/empty.grpc" \
    "http://127.0.0.1:${ports[0]}$path"
  grep -qi '^grpc-status: 0' "$work/grpc.head" ||
    { echo "bench: acond's gRPC Health did not answer grpc-status 0" >&2; cat "$work/grpc.head" >&2; return 1; }
  row api "load average before (1, 5, 15 min)" "$(uptime | sed 's/.*load average: //')"
  row api "h2load runs (each server, one at a time)" \
    "-n $n -c 8: h2c -m 10, h1 --h1 -m 1; Connect JSON Health"

  # One h2load run: server (0 acond, 1 connect, 2 bare), requests, h1|h2c, json|grpc → prints
  # requests/s; fails unless every request got a 2xx. The server's CPU µs/request go to $work/cpu.
  api_load() {
    local args=(-n "$2" -c 8) out ok
    [ "$3" = h1 ] && args+=(--h1) || args+=(-m 10)
    if [ "$4" = grpc ]; then
      args+=(-d "$work/empty.grpc" -H 'content-type: application/grpc' -H 'te: trailers')
    else
      args+=(-d "$work/empty.json" -H 'content-type: application/json')
    fi
    local c0 c1
    c0=$(cpu_s "${pids[$1]}")
    out=$(h2load "${args[@]}" "http://127.0.0.1:${ports[$1]}$path")
    c1=$(cpu_s "${pids[$1]}")
    ok=$(echo "$out" | sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p')
    [ "$ok" = "$2" ] || { echo "bench: h2load $* : only ${ok:-0} of $2 got 2xx" >&2; echo "$out" >&2; return 1; }
    calc "round(($c1 - $c0) * 1e6 / $2)" >"$work/cpu"
    echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p'
  }
  api_rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
  local rate=() cpu=() t0 t1 rss0
  rss0=$(api_rss "${pids[0]}")
  # acond first: its first n requests are the h2c Connect run.
  t0=$(now)
  rate+=("$(api_load 0 "$n" h2c json)")
  cpu+=("$(cat "$work/cpu")")
  local rss1 served=$n
  rss1=$(api_rss "${pids[0]}")
  local grpc=() grpccpu=()
  grpc+=("$(api_load 0 "$n" h2c grpc)")
  grpccpu+=("$(cat "$work/cpu")")
  rate+=("$(api_load 0 "$n" h1 json)")
  cpu+=("$(cat "$work/cpu")")
  served=$((served + 2 * n))
  local s
  for s in 1 2; do
    rate+=("$(api_load "$s" "$n" h2c json)")
    cpu+=("$(cat "$work/cpu")")
    rate+=("$(api_load "$s" "$n" h1 json)")
    cpu+=("$(cat "$work/cpu")")
  done
  grpc+=("$(api_load 1 "$n" h2c grpc)")
  grpccpu+=("$(cat "$work/cpu")")
  # rate/cpu: acond h2c, h1, connect h2c, h1, bare h2c, h1; grpc: acond, connect.
  local names=("acond --dev" "connect-es floor" "bare Deno.serve") i
  for i in 0 1 2; do
    row api "${names[$i]}: req/s h2c, h1" \
      "$(calc "round(${rate[$((2 * i))]})"), $(calc "round(${rate[$((2 * i + 1))]})") (server CPU µs/req ${cpu[$((2 * i))]}, ${cpu[$((2 * i + 1))]})"
    if [ "$i" -lt 2 ]; then
      row api "${names[$i]}: native gRPC h2c req/s" \
        "$(calc "round(${grpc[$i]})") (server CPU µs/req ${grpccpu[$i]})"
    fi
  done
  # The rate ratios, and beside them the servers' CPU per request inverted (floor / acond): h2load
  # shares the 2 cores, so on a busy machine the rate ratio tends to the CPU one.
  api_ratios() { # floor's index [rates array, cpu array] → "h2c, h1 (CPU h2c, h1)"
    local -n r=${2:-rate} c=${3:-cpu}
    echo "$(calc "round(${r[0]} / ${r[$1]}, 2)"), $(calc "round(${r[1]} / ${r[$1 + 1]}, 2)")" \
      "(CPU $(calc "round(${c[$1]} / ${c[0]}, 2)"), $(calc "round(${c[$1 + 1]} / ${c[1]}, 2)"))"
  }
  row api "acond / connect-es h2c, h1 (target ≥ 0.5)" "$(api_ratios 2)"
  row api "acond / bare h2c, h1 (target ≥ 0.25)" "$(api_ratios 4)"
  row api "acond / connect-es, native gRPC h2c" \
    "$(calc "round(${grpc[0]} / ${grpc[1]}, 2)") (CPU $(calc "round(${grpccpu[1]} / ${grpccpu[0]}, 2)"))"
  # The same Connect runs again on every server, now that each has served 60000 (acond, the
  # connect-es floor) or 40000 (bare) requests: the steady-state rates, beside the first runs'
  # above (acond's first h2c run is its first 20000 requests: its JIT warms up within it).
  local warm=() warmcpu=()
  for s in 0 1 2; do
    warm+=("$(api_load "$s" "$n" h2c json)")
    warmcpu+=("$(cat "$work/cpu")")
    warm+=("$(api_load "$s" "$n" h1 json)")
    warmcpu+=("$(cat "$work/cpu")")
  done
  served=$((served + 2 * n))
  row api "second runs, req/s h2c, h1: acond; connect-es; bare" \
    "$(calc "round(${warm[0]})"), $(calc "round(${warm[1]})"); $(calc "round(${warm[2]})"), $(calc "round(${warm[3]})"); $(calc "round(${warm[4]})"), $(calc "round(${warm[5]})") (server CPU µs/req ${warmcpu[*]})"
  row api "second runs: acond / connect-es h2c, h1 (≥ 0.5)" "$(api_ratios 2 warm warmcpu)"
  row api "second runs: acond / bare h2c, h1 (≥ 0.25)" "$(api_ratios 4 warm warmcpu)"
  t1=$(now)
  row api "throughput runs took" "$(calc "round($t1 - $t0)") s"

  # Memory: acond's h2c Connect Health up to `total` requests served, then its RSS again.
  t0=$(now)
  local rest=$((total - served))
  while [ "$rest" -gt 0 ]; do
    local chunk=$((rest < 100000 ? rest : 100000))
    api_load 0 "$chunk" h2c json >/dev/null
    rest=$((rest - chunk))
  done
  t1=$(now)
  local rss2
  rss2=$(api_rss "${pids[0]}")
  ((served > total)) && total=$served # a total below what the rate runs serve: theirs
  row api "acond RSS idle, after $((n / 1000))k, $((total / 1000))k requests" \
    "$rss0, $rss1, $rss2 MiB; $((total / 1000))k / $((n / 1000))k ratio $(calc "round($rss2 / $rss1, 2)") (target ≤ 1.10; the last $((total - served > 0 ? total - served : 0)) took $(calc "round($t1 - $t0)") s)"
  row api "load average after (1, 5, 15 min)" "$(uptime | sed 's/.*load average: //')"
}
