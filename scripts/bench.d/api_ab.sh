#!/bin/bash
# api_ab.sh CHECKOUT... PROTO: the same Health load on each checkout's built daemon, one at a time
# (A/B of a change to the API path; scripts/bench api compares acond with its peers instead).
# PROTO: h1 (HTTP/1.1, one request at a time per connection) or h2c (10 streams per connection).
# Prints, per checkout, h2load's rate and the daemon's CPU µs per request (/proc/PID/stat) for
# 20000 JSON Health requests over 8 connections, after 2000 to warm up.
set -euo pipefail
proto=${*: -1}
[ "$proto" = h1 ] || [ "$proto" = h2c ] || { echo "usage: $0 CHECKOUT... h1|h2c" >&2; exit 2; }
flags=(--h1 -m 1)
[ "$proto" = h2c ] && flags=(-m 10)
hz=$(getconf CLK_TCK)
for r in "${@:1:$#-1}"; do
  w=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$r/dist/acond" --dev --root "$w/root" --socket "$w/s" --tee sim --tcp "127.0.0.1:$port" --tls off \
    >"$w/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null -H 'content-type: application/json' -d '{}' \
    "http://127.0.0.1:$port/acon.grpc.AconService/Health" && break; sleep 0.1; done
  printf '{}' >"$w/e.json"
  url="http://127.0.0.1:$port/acon.grpc.AconService/Health"
  load() { h2load "${flags[@]}" -n "$1" -c 8 -d "$w/e.json" -H 'content-type: application/json' "$url" 2>&1; }
  # The launcher execs deno: its pid is the daemon's.
  cpu() { awk -v hz="$hz" '{ print ($14 + $15) / hz }' "/proc/$pid/stat"; }
  load 2000 >/dev/null
  c0=$(cpu)
  rate=$(load 20000 | grep -oE '[0-9.]+ req/s')
  c1=$(cpu)
  echo "$r $proto $rate, $(python3 -c "print(round(($c1 - $c0) / 20000 * 1e6))") CPU µs/req"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$w"
done
