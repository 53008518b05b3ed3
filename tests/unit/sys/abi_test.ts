/**
 * The shim's ABI (ffi/acond_shim.h) against the TypeScript codec (src/sys/abi.ts): every constant
 * the library lists through acond_abi_constant(), by name and value, and the set of exported
 * symbols against the FFI tables. No root needed: it only loads dist/libacond_shim.so.
 */
import { assert, assertEquals, assertOk } from "../../helpers/assert.ts";
import {
  ABI_VERSION,
  abiConstants,
  FILE_RECORD,
  MAX_MANIFEST_UIDS,
  MAX_USERS,
  STEP,
} from "../../../src/sys/abi.ts";
import { shim, shimPath } from "../../../src/sys/lib.ts";
import { SpawnError } from "../../../src/sys/proc.ts";
import { validUids } from "../../../src/container/ids.ts";
import { abiSymbols } from "../../../src/sys/symbols/abi.ts";
import { fsSymbols } from "../../../src/sys/symbols/fs.ts";
import { initSymbols } from "../../../src/sys/symbols/init.ts";
import { layerSymbols } from "../../../src/sys/symbols/layer.ts";
import { procSymbols } from "../../../src/sys/symbols/proc.ts";
import { tdxSymbols } from "../../../src/sys/symbols/tdx.ts";
import { ttySymbols } from "../../../src/sys/symbols/tty.ts";
import { digestSymbols } from "../../../src/sys/symbols/digest.ts";

const ENOENT = 2, ERANGE = 34;

/** The library's constants, in its order. */
function libraryConstants(): [string, number][] {
  const rows: [string, number][] = [];
  const name = new Uint8Array(64);
  const value = new BigInt64Array(1);
  for (let i = 0;; i++) {
    const r = shim().acond_abi_constant(i, name, BigInt(name.length), value);
    if (r === -ENOENT) break;
    assertEquals(r, 0, `acond_abi_constant(${i})`);
    const n = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
    rows.push([n, Number(value[0])]);
  }
  return rows;
}

Deno.test("ABI: the library's version is the codec's", () => {
  assertEquals(shim().acond_abi_version(), ABI_VERSION);
});

Deno.test("ABI: every constant of the library has the codec's value, and neither side has one the other lacks", () => {
  const rows = libraryConstants();
  const lib = Object.fromEntries(rows);
  assertEquals(Object.keys(lib).length, rows.length, "no name twice in the library's table");
  const ts = abiConstants();
  const missing = Object.keys(lib).filter((k) => !(k in ts));
  const extra = Object.keys(ts).filter((k) => !(k in lib));
  assertEquals(missing, [], "constants the codec does not state");
  assertEquals(extra, [], "constants the library does not have");
  assertEquals(ts, lib);
  // The groups the codec relies on are all there (a wholesale rename would empty both sides).
  for (const prefix of ["STEP_", "I_", "F_", "OUT_", "IF_STEP_", "FILE_RECORD_"]) {
    assertOk(rows.some(([n]) => n.startsWith(prefix)), prefix);
  }
  for (
    const n of [
      "MAX_ARGS",
      "MAX_ENV",
      "MAX_USERS",
      "EPOLL_MAX_EVENTS",
      "FILE_CHMOD",
      "TTY_STATE_SIZE",
    ]
  ) {
    assertOk(n in lib, n);
  }
});

Deno.test("ABI: acond_abi_constant refuses a name buffer too small, and an index past the end", () => {
  const value = new BigInt64Array([7n]);
  assertEquals(shim().acond_abi_constant(0, new Uint8Array(2), 2n, value), -ERANGE);
  assertEquals(value[0], 7n, "value untouched on failure");
  const n = libraryConstants().length;
  assertEquals(shim().acond_abi_constant(n, new Uint8Array(64), 64n, value), -ENOENT);
});

Deno.test("ABI: the record layout is packed, and step numbers name the codec's step texts", () => {
  assertEquals(FILE_RECORD.SIZE, FILE_RECORD.DATA_LEN + 8);
  const steps = Object.values(STEP);
  assertEquals(new Set(steps).size, steps.length, "step numbers are distinct");
  for (const n of steps) {
    assert.notEqual(new SpawnError(1, n).step, `step ${n}`, `step ${n} has a text`);
  }
  // src/container/service.ts tells an unexecutable entry point apart by this text.
  assertEquals(new SpawnError(2, STEP.EXEC).step, "execve");
});

Deno.test("ABI: the manifest uid limit leaves room for root in MAX_USERS", () => {
  assertEquals(MAX_MANIFEST_UIDS, MAX_USERS - 1);
  const uids = (n: number) => Array.from({ length: n }, (_, i) => 1000 + i);
  assertOk(validUids(uids(MAX_MANIFEST_UIDS), 65534), "MAX_MANIFEST_UIDS uids are accepted");
  assertOk(!validUids(uids(MAX_MANIFEST_UIDS + 1), 65534), "one more is refused");
});

Deno.test("ABI: the library exports exactly the FFI tables' symbols (everything else is hidden)", async () => {
  const out = await new Deno.Command("nm", {
    args: ["-D", "--defined-only", shimPath()],
    stdout: "piped",
  }).output();
  assertOk(out.success, "nm -D");
  const exported = new TextDecoder().decode(out.stdout).split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 3 && /^[TWDBRV]$/.test(f[1])) // global, defined
    .map((f) => f[2]).sort();
  const tables = [
    abiSymbols,
    fsSymbols,
    initSymbols,
    layerSymbols,
    procSymbols,
    tdxSymbols,
    ttySymbols,
    digestSymbols,
  ];
  assertEquals(exported, tables.flatMap((t) => Object.keys(t)).sort());
});
