# Sourced by every script: one place for the toolchain paths and the Deno environment.
ACOND_TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DENO="$ACOND_TOP/node_modules/.bin/deno"
export DENO_DIR="${DENO_DIR:-$ACOND_TOP/.cache/deno}"
export DENO_TLS_CA_STORE=system      # the registry is reached through a CA that only the system store has
export DENO_NO_UPDATE_CHECK=1        # no DNS lookups at start-up
export DENO_NO_PACKAGE_JSON=1        # package.json only pins the toolchain for npm
export NO_COLOR=1
unset RUST_BACKTRACE                 # keeps deno's error output parseable
