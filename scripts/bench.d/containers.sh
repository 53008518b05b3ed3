# shellcheck shell=bash
# ---- containers: Start/Exec latency vs crun, RSS with idle containers ---------------------------
# Sourced by scripts/bench. crun refuses hybrid cgroups here, so the client runs in a private mount
# namespace with a pure cgroup2 mount (notes/peers.md); acond runs outside it, as usual.
containers() {
  local work pid=""
  work=$(mktemp -d /tmp/acond-bench-containers.XXXXXX)
  # shellcheck disable=SC2064
  trap "[ -n \"\$pid\" ] && kill \$pid 2>/dev/null; wait 2>/dev/null; rm -rf '$work'" RETURN
  "$TOP/dist/acond" --dev --root "$work/root" --socket "$work/acond.sock" --tee sim \
    >"$work/acond.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -S "$work/acond.sock" ] && break; sleep 0.1; done
  unshare -m --propagation private bash -c '
    umount -R /sys/fs/cgroup 2>/dev/null; mount -t cgroup2 none /sys/fs/cgroup
    exec "$0" run -A "$1" "$2" "$3" "$4" "$5"' \
    "$DENO" "$TOP/scripts/bench.d/containers_client.ts" "$work/acond.sock" "$pid" "$work" \
    "${CONTAINER_RUNS:-200}"
}
