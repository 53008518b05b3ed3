/**
 * One container cannot break another's attestation (issue 10 items 6 and 7): its data is bounded
 * on its own and with everyone's, so every other container's report still fits the socket's
 * 1 MiB; and its connections count against its own share, so holding many open starves only it.
 */
import { assert, assertEquals, assertMatch } from "../../helpers/assert.ts";
import {
  decodeResponse,
  encodeGetReportReq,
  encodeSetDataReq,
  MAX_MESSAGE,
} from "../../../src/attest/ipc.ts";
import { ContainerIpc } from "../../../src/attest/ipcserver.ts";
import { EventLog } from "../../../src/attest/eventlog.ts";
import { SimTee } from "../../../src/attest/sim.ts";
import { Mutex } from "../../../src/util/mutex.ts";
import type { PodState } from "../../../src/context.ts";

const IMAGE = "sha384/a/b";
/** The documented bounds (docs/attestation.md "Limits on attestation data"). */
const MAX_ATTEST_DATA_BYTES = 64 * 1024;
const MAX_ATTEST_TOTAL_BYTES = 512 * 1024;

async function deps(ids: number[]) {
  const dir = await Deno.makeTempDir();
  const tee = new SimTee();
  const eventLog = new EventLog(`${dir}/rtmr3.log`, tee);
  await eventLog.measure(`github.com/intel/ACON AddManifest ${IMAGE}`);
  const state: PodState = {
    finalized: false,
    images: new Map([[IMAGE, {} as never]]),
    containers: new Map(ids.map((id) => [id, { id, imageId: IMAGE, attestData: null }])),
  };
  return { d: { tee, eventLog, state, lock: new Mutex() }, dir };
}

const quote = (cid: number, ipc: ContainerIpc, data = "") =>
  ipc.handle(encodeGetReportReq(1, 1n, 2n, 2, data), cid).then(decodeResponse);

Deno.test("one container's large data is refused to it; every other container's report still works", async () => {
  const { d, dir } = await deps([7, 8]);
  const ipc = new ContainerIpc(d);
  const big = "x".repeat(MAX_MESSAGE - 64); // fits one message, not every report
  const r = await ipc.handle(encodeSetDataReq(2, big), 7).then(decodeResponse);
  assertEquals(r.kind, "error");
  if (r.kind === "error") {
    assertMatch(
      r.message,
      /^Attestation data too large: \d+ bytes in the report JSON, at most 65536$/,
    );
  }
  assertEquals(d.state.containers.get(7)!.attestData, null);
  assertEquals((await quote(8, ipc)).kind, "report");
  // Its data for one report only is bounded too, and refused to it alone.
  const once = await quote(7, ipc, big);
  assertEquals(once.kind, "error");
  assertEquals((await quote(8, ipc, "fine")).kind, "report");
  // Exactly the bound is fine; one byte over is not. Escaping counts (\u0001 is 6 bytes).
  const max = "y".repeat(MAX_ATTEST_DATA_BYTES - 2); // + the two quotes
  assertEquals(
    (await ipc.handle(encodeSetDataReq(2, max), 7).then(decodeResponse)).kind,
    "set_data_ok",
  );
  assertEquals(
    (await ipc.handle(encodeSetDataReq(2, max + "y"), 7).then(decodeResponse)).kind,
    "error",
  );
  const ctl = "\u0001".repeat(Math.ceil(MAX_ATTEST_DATA_BYTES / 6));
  assertEquals((await ipc.handle(encodeSetDataReq(2, ctl), 8).then(decodeResponse)).kind, "error");
  // The refused request left 7's stored data as it was.
  assertEquals(d.state.containers.get(7)!.attestData?.data.length, max.length);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("all containers' data is bounded: the one that would pass the bound is refused, reports fit", async () => {
  const n = MAX_ATTEST_TOTAL_BYTES / MAX_ATTEST_DATA_BYTES;
  const ids = Array.from({ length: n + 2 }, (_, i) => 10 + i);
  const { d, dir } = await deps(ids);
  const ipc = new ContainerIpc(d);
  const full = "z".repeat(MAX_ATTEST_DATA_BYTES - 2);
  for (const id of ids.slice(0, n)) {
    assertEquals(
      (await ipc.handle(encodeSetDataReq(2, full), id).then(decodeResponse)).kind,
      "set_data_ok",
    );
  }
  const over = await ipc.handle(encodeSetDataReq(2, full), ids[n]).then(decodeResponse);
  assertEquals(over.kind, "error");
  if (over.kind === "error") {
    assertMatch(over.message, /^Attestation data not stored: .* at most 524288/);
  }
  // Replacing one's own data does not count its old data.
  assertEquals(
    (await ipc.handle(encodeSetDataReq(2, full), ids[0]).then(decodeResponse)).kind,
    "set_data_ok",
  );
  // Every caller's report fits, even with its own data for that report at its bound.
  for (const id of [ids[0], ids[n], ids[n + 1]]) {
    const r = await quote(id, ipc, full);
    assertEquals(r.kind, "report", `container ${id}`);
  }
  await Deno.remove(dir, { recursive: true });
});

/** Connects to `path`; resolves once the server closed it (null) or after the first reply bytes. */
async function closedByServer(c: Deno.UnixConn): Promise<boolean> {
  const n = await c.read(new Uint8Array(16)).catch(() => null);
  return n === null;
}

Deno.test("connections: one container holding many starves only itself; all callers stay bounded", async () => {
  const { d, dir } = await deps([7, 8]);
  const ipc = new ContainerIpc(d, { readTimeoutMs: 60_000 });
  const p7 = `${dir}/7.sock`, p8 = `${dir}/8.sock`;
  const s7 = await ipc.listen(p7, () => 7);
  const s8 = await ipc.listen(p8, () => 8);
  const held: Deno.UnixConn[] = [];
  try {
    // Container 7 opens 80 connections and sends nothing.
    for (let i = 0; i < 80; i++) held.push(await Deno.connect({ transport: "unix", path: p7 }));
    // Over its share, the last is closed at once; the accept loop serves in order, so by then
    // every earlier connection has been counted.
    assert(await closedByServer(held[held.length - 1]));
    // Container 8 is served.
    const c = await Deno.connect({ transport: "unix", path: p8 });
    await c.write(encodeSetDataReq(2, "eight"));
    const buf = new Uint8Array(64);
    const got = await c.read(buf);
    c.close();
    assertEquals(got !== null && decodeResponse(buf.subarray(0, got)).kind, "set_data_ok");
    assertEquals(d.state.containers.get(8)!.attestData?.data, "eight");
  } finally {
    for (const c of held) c.close();
    s7.close();
    s8.close();
  }
  // The bound on all callers: with a share of 4 and 6 in all, two callers get 4 + 2.
  const small = new ContainerIpc(d, { readTimeoutMs: 60_000, maxPerCaller: 4, maxConnections: 6 });
  const a = await small.listen(`${dir}/a.sock`, () => 7);
  const b = await small.listen(`${dir}/b.sock`, () => 8);
  const conns: Deno.UnixConn[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      conns.push(await Deno.connect({ transport: "unix", path: `${dir}/a.sock` }));
    }
    assert(await closedByServer(conns[4]), "caller 7's fifth connection is over its share");
    for (let i = 0; i < 3; i++) {
      conns.push(await Deno.connect({ transport: "unix", path: `${dir}/b.sock` }));
    }
    assert(await closedByServer(conns[7]), "the seventh in all is over the bound");
  } finally {
    for (const c of conns) c.close();
    a.close();
    b.close();
  }
  await Deno.remove(dir, { recursive: true });
});
