# shellcheck shell=bash
# ---- boot: QEMU start → API ready, acond vs the floor; initramfs size per compression; RSS ----
# Sourced by scripts/bench. TCG unless ACCEL=kvm (CI has no usable KVM): absolute times are an
# upper bound; the ratio to the floor (same kernel, launcher and deno) is what to compare.
# BOOT_RUNS (default 5): interleaved rounds of the four images. BOOT_SMP (default 1): the guests'
# vCPUs (scripts/run gives its VM 2; one keeps TCG's timing steadier on a 2-core host).
boot() {
  local work=build/bench-boot
  rm -rf "$work" && mkdir -p "$work"
  ./scripts/initramfs >/dev/null 2>&1 || { echo "bench: scripts/initramfs failed" >&2; return 1; }
  # The floors: acond's root with a floor program instead of acond (without acond's chunks and
  # caches), and only the NIC modules. floor: plain HTTP. floor+connect: Health through acond's
  # RPC stack (connect-es, protobuf-es, the generated service), code-split and its code cache
  # prepared as acond's is, to tell the stack's boot cost from acond's own. floor+connect+tls: the
  # same over TLS with a key and certificate made at boot (no evidence), as acond serves its API.
  floor_image() { # name, entry, split
    local root="$work/$1"
    cp -a build/initramfs/root "$root"
    rm -rf "$root/app/"*.js "$root/var/cache/deno/"*
    if [ "$3" = split ]; then
      local out="$work/$1.bundle"
      "$DENO" bundle --quiet --platform=deno --code-splitting --outdir "$out" "$2"
      cp "$out"/*-*.js "$root/app/" && cp "$out/$(basename "${2%.ts}").js" "$root/app/acond.js"
      initramfs/warm_cache.sh "$root" >/dev/null 2>&1 || echo "bench: $1: no prepared caches" >&2
    else
      "$DENO" bundle --quiet --platform=deno -o "$root/app/acond.js" "$2"
    fi
    grep -E '^(failover|net_failover|virtio_net)\.ko' build/initramfs/root/lib/modules/acond/order \
      > "$root/lib/modules/acond/order"
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet) |
      lz4 -l -9 -q -c > "$work/$1.cpio.lz4"
  }
  floor_image floor scripts/bench.d/floor.ts single
  floor_image floorc scripts/bench.d/floor_connect_entry.ts split
  floor_image floorct scripts/bench.d/floor_connect_tls_entry.ts split
  local accel=(-accel tcg -cpu max) smp=${BOOT_SMP:-1}
  [ "${ACCEL:-tcg}" = kvm ] && accel=(-accel kvm -cpu host)
  boot_once() { # initrd, serial log, scheme → prints seconds from QEMU start to the first Health 200
    local port=$((20000 + RANDOM % 20000)) t0 t1 qpid
    t0=$(now)
    qemu-system-x86_64 "${accel[@]}" -m 1G -smp "$smp" -display none -monitor none -serial "file:$2" \
      -no-reboot -kernel dist/vmlinuz -initrd "$1" \
      -append 'console=ttyS0 panic=-1 quiet acond.ip=eth0:10.0.2.15/24:10.0.2.2 acond.tee=sim' \
      -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:1025" -device virtio-net-pci,netdev=n0,romfile= \
      </dev/null >/dev/null 2>&1 &
    qpid=$!
    # A new attempt every 0.1 s, each allowed 3 s; the time is the first success's. (One attempt
    # at a time would measure slirp's SYN retransmission: a connection made before the guest
    # listens is only retried towards the guest after a second or more.)
    local ok="$work/ok.$port" curls=()
    : > "$ok"
    until [ -s "$ok" ]; do
      kill -0 $qpid 2>/dev/null || { echo "bench: QEMU died" >&2; return 1; }
      if [ "$(calc "int($(now) - $t0 > 180)")" = 1 ]; then
        echo "bench: $1 answered no $3 Health within 180 s (serial: $2)" >&2
        kill $qpid 2>/dev/null; return 1
      fi
      # acond's API is attested TLS (its certificate is made at boot: part of what is measured);
      # the floors serve plain HTTP.
      { curl -skf -m 3 -o /dev/null -H 'content-type: application/json' -d '{}' \
        "$3://127.0.0.1:$port/acon.grpc.AconService/Health" && now >> "$ok"; } &
      curls+=($!)
      sleep 0.1
    done
    kill "${curls[@]}" 2>/dev/null || true
    wait "${curls[@]}" 2>/dev/null || true
    t1=$(sort -g "$ok" | head -1)
    kill $qpid; wait $qpid 2>/dev/null || true
    calc "round($t1 - $t0, 2)"
  }
  local a=() f=() c=() t=() i
  local n=${BOOT_RUNS:-5} # interleaved rounds: TCG boot times vary by ±10% from run to run
  for i in $(seq "$n"); do
    a+=("$(boot_once dist/initramfs.cpio.lz4 "$work/acond-$i.log" https)")
    f+=("$(boot_once "$work/floor.cpio.lz4" "$work/floor-$i.log" http)")
    c+=("$(boot_once "$work/floorc.cpio.lz4" "$work/floorc-$i.log" http)")
    t+=("$(boot_once "$work/floorct.cpio.lz4" "$work/floorct-$i.log" https)")
  done
  local am fm cm tm
  am=$(median "${a[@]}")
  fm=$(median "${f[@]}")
  cm=$(median "${c[@]}")
  tm=$(median "${t[@]}")
  guest() { # log glob, pattern → the median in-guest ms
    median $(grep -aho "$2 [0-9]* ms" "$work"/$1-*.log | awk '{print $(NF-1)}')
  }
  row boot "QEMU start → API ready, acond (median of $n, ${ACCEL:-tcg}, -smp $smp)" "$am s (${a[*]})"
  row boot "QEMU start → HTTP, floor deno PID 1 (median of $n)" "$fm s (${f[*]})"
  row boot "QEMU start → Health, floor + connect-es (median of $n)" "$cm s (${c[*]})"
  row boot "QEMU start → Health over TLS, floor + connect-es + a boot-made certificate" "$tm s (${t[*]})"
  row boot "ratio acond / floor" "$(calc "round($am / $fm, 2)")"
  row boot "ratio floor+connect / floor (the RPC stack)" "$(calc "round($cm / $fm, 2)")"
  row boot "ratio acond / floor+connect (acond's own)" "$(calc "round($am / $cm, 2)")"
  row boot "ratio acond / floor+connect+tls (acond's own, TLS on both)" "$(calc "round($am / $tm, 2)")"
  row boot "in the guest: deno start → acond ready" "$(guest acond 'ready as PID 1 in') ms (median)"
  row boot "in the guest: deno start → floor listening" "$(guest floor 'floor listening in') ms (median)"
  row boot "in the guest: → floor+connect listening" "$(guest floorc 'floor+connect listening in') ms (median)"
  row boot "in the guest: → floor+connect+tls listening" "$(guest floorct 'floor+connect+tls listening in') ms (median)"
  local ga gc gt
  ga=$(guest acond 'ready as PID 1 in') gc=$(guest floorc 'floor+connect listening in')
  gt=$(guest floorct 'floor+connect+tls listening in')
  row boot "in the guest: ratio acond / floor+connect" "$(calc "round($ga / $gc, 2)")"
  row boot "in the guest: ratio acond / floor+connect+tls" "$(calc "round($ga / $gt, 2)")"
  row boot "acond's first request, in the guest" \
    "$(median $(grep -aho 'answered at [0-9]* ms, in [0-9]*' "$work"/acond-*.log | awk '{print $6}')) ms (median)"
  # Where the median boot's time went: its ready line's phases (and steps), and the TLS identity's.
  local mid
  mid=$(grep -al "ready as PID 1 in $(guest acond 'ready as PID 1 in') ms" "$work"/acond-*.log | head -1)
  if [ -n "$mid" ]; then
    row boot "acond's phases (ms), median boot" "$(grep -ao 'ms per phase: .*' "$mid" | head -1 | cut -d' ' -f4-)"
    row boot "acond's TLS identity (ms), median boot" "$(grep -ao 'TLS identity in .*' "$mid" | head -1 | cut -d' ' -f4-)"
  fi
  row boot "acond RSS after boot" "$(grep -aho 'rss [0-9.]* MiB' "$work/acond-1.log" | head -1 | awk '{print $2}') MiB"
  # Sizes: the same cpio through each compressor the kernel can unpack.
  (cd build/initramfs/root && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet) \
    > "$work/acond.cpio"
  row boot "initramfs none" "$(stat -c%s "$work/acond.cpio") bytes"
  local c
  for c in "lz4 -l -9" "gzip -n -9" "zstd -19 -T0" "xz --check=crc32 -T0"; do
    row boot "initramfs $c" "$($c -q -c < "$work/acond.cpio" 2>/dev/null | wc -c) bytes"
  done
}
