#!/usr/bin/env bash
# Prepares Deno's caches in ROOT/var/cache/deno (the DENO_DIR of the boot): runs
# initramfs/warm_cache.js in a chroot of ROOT (private mount and PID namespaces, /proc mounted)
# with the flags and environment of initramfs/init.c, then makes the databases reproducible
# (initramfs/deno_cache.ts). Used by scripts/initramfs.
# Fails (leaving no cache) where namespaces or chroot are not available.
# Usage: initramfs/warm_cache.sh ROOT
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
R=$1
install -m 0644 initramfs/warm_cache.js "$R/tmp/warm_cache.js"
userns=()
[ "$(id -u)" = 0 ] || userns=(-r)
rc=0
env -i HOME=/ PATH=/bin DENO_DIR=/var/cache/deno DENO_NO_UPDATE_CHECK=1 DENO_NO_PACKAGE_JSON=1 \
  NO_COLOR=1 ACOND_SHIM=/app/libacond_shim.so R="$R" CHROOT="$(command -v chroot || echo /usr/sbin/chroot)" \
  "$(command -v unshare)" "${userns[@]}" -mpf /bin/sh -c 'mount -t proc proc "$R/proc" &&
    exec "$CHROOT" "$R" /bin/deno run -A --no-config --cached-only --unstable-no-legacy-abort \
      --v8-flags=--max-semi-space-size=8 \
      --unstable-vsock /tmp/warm_cache.js' >&2 || rc=$?
rm -f "$R/tmp/warm_cache.js"
if [ $rc != 0 ]; then
  rm -rf "${R:?}/var/cache/deno/"*
  exit $rc
fi
"$DENO" run -A --quiet initramfs/deno_cache.ts "$R/var/cache/deno"
