/** The container socket protocol: golden bytes, strict validation, fuzzing, and the server. */
import fc from "fast-check";
import { assertEquals, assertOk, assertThrows } from "../../helpers/assert.ts";
import {
  decodeRequest,
  decodeResponse,
  encodeError,
  encodeGetReportReq,
  encodeGetReportRsp,
  encodeSetDataReq,
  encodeSetDataRsp,
  IpcError,
  MAX_MESSAGE,
} from "../../../src/attest/ipc.ts";
import { acceptLoop, ContainerIpc, ContainerSockets } from "../../../src/attest/ipcserver.ts";
import { makeReport } from "../../../src/attest/report.ts";
import { EventLog } from "../../../src/attest/eventlog.ts";
import { SimTee } from "../../../src/attest/sim.ts";
import { Mutex } from "../../../src/util/mutex.ts";
import { toHex } from "../../../src/digest.ts";
import { verifyReport } from "../../../src/attest/verify.ts";
import type { PodState } from "../../../src/context.ts";

const le32 = (n: number) => toHex(new Uint8Array(new Int32Array([n]).buffer));

Deno.test("request and response encodings: golden bytes (native LE C structs)", () => {
  const req = encodeGetReportReq(1, 0x1122n, 0x3344n, 2, "hi");
  assertEquals(
    toHex(req),
    le32(0) + le32(42) + le32(1) + "00000000" + "4433000000000000" + "2211000000000000" +
      le32(2) + "00000000" + "6869",
  );
  assertEquals(toHex(encodeSetDataReq(2, "ab")), le32(2) + le32(14) + le32(2) + "6162");
  assertEquals(toHex(encodeSetDataRsp()), le32(3) + le32(8));
  assertEquals(toHex(encodeError(2, "No")), le32(-1) + le32(14) + le32(2) + "4e6f");
  const rsp = encodeGetReportRsp(["A", "BC"], "{}", new Uint8Array([9, 9]));
  // offsets: log at 20 ("\0\0\0A\0BC\0" = 8 bytes), json at 28, data at 30; size 32.
  assertEquals(
    toHex(rsp),
    le32(1) + le32(32) + le32(20) + le32(28) + le32(30) + "000000410042430" + "0" + "7b7d" + "0909",
  );
  assertEquals(decodeResponse(rsp), {
    kind: "report",
    rtmr3Log: ["A", "BC"],
    json: "{}",
    data: new Uint8Array([9, 9]),
  });
});

Deno.test("decodeRequest: ACON's nonce mapping, NUL-cut data, every malformed shape refused", () => {
  // nonce[0] is hi, nonce[1] is lo.
  const r = decodeRequest(encodeGetReportReq(0, 5n, 6n, 2, "data\0ignored"));
  assertEquals(r, {
    kind: "get_report",
    requestType: 0,
    nonceLo: 5n,
    nonceHi: 6n,
    attestData: { type: 2, data: "data" },
  });
  assertEquals(decodeRequest(encodeSetDataReq(1, "")), {
    kind: "set_data",
    attestData: { type: 1, data: "" },
  });
  const refuse = (m: Uint8Array, re: RegExp) =>
    assertThrows(
      () => decodeRequest(m),
      (e: unknown) => e instanceof IpcError && re.test(e.message),
    );
  const withSize = (m: Uint8Array, size: number) => {
    const c = m.slice();
    new DataView(c.buffer).setUint32(4, size, true);
    return c;
  };
  const gr = encodeGetReportReq(0, 1n, 2n, 0, "");
  refuse(gr.subarray(0, 7), /Invalid structure format/);
  refuse(withSize(gr, 7), /Invalid structure format/);
  refuse(withSize(gr, MAX_MESSAGE + 1), /Invalid structure format/);
  refuse(withSize(gr, 41), /Invalid structure format/); // size ≠ bytes
  for (const n of [8, 12, 39]) refuse(withSize(gr.subarray(0, n), n), /Invalid structure format/);
  const sd = encodeSetDataReq(2, "x");
  for (const n of [8, 11]) refuse(withSize(sd.subarray(0, n), n), /Invalid structure format/);
  refuse(encodeSetDataReq(3, "x"), /Invalid structure format/);
  refuse(encodeSetDataReq(-1, "x"), /Invalid structure format/);
  refuse(encodeSetDataReq(2, new Uint8Array([0xc3, 0x28])), /Invalid structure format/);
  const unknown = encodeSetDataRsp(); // command 3 is a response, not a request
  refuse(unknown, /Request not supported/);
});

Deno.test("fuzz: any bytes either decode or give an IpcError; valid requests round-trip", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 96 }), fc.integer({ min: -2, max: 4 }), (bytes, cmd) => {
      const m = new Uint8Array(Math.max(8, bytes.length));
      m.set(bytes);
      const dv = new DataView(m.buffer);
      dv.setInt32(0, cmd, true);
      if (bytes.length % 2 === 0) dv.setUint32(4, m.length, true); // often a consistent size
      try {
        decodeRequest(m);
      } catch (e) {
        assertOk(e instanceof IpcError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.integer({ min: 0, max: 2 }),
      fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !s.includes("\0")),
      (lo, hi, t, s) => {
        const r = decodeRequest(encodeGetReportReq(1, lo, hi, t, s));
        assertEquals(r, {
          kind: "get_report",
          requestType: 1,
          nonceLo: lo,
          nonceHi: hi,
          attestData: { type: t, data: s },
        });
      },
    ),
    { numRuns: 300 },
  );
});

async function deps() {
  const dir = await Deno.makeTempDir();
  const tee = new SimTee();
  const eventLog = new EventLog(`${dir}/rtmr3.log`, tee);
  await eventLog.measure("github.com/intel/ACON AddManifest sha384/a/b");
  const state: PodState = {
    finalized: false,
    images: new Map([["sha384/a/b", {} as never]]),
    containers: new Map([[7, { id: 7, imageId: "sha384/a/b", attestData: null }]]),
  };
  return { d: { tee, eventLog, state, lock: new Mutex() }, dir };
}

Deno.test("handle(): set data for the caller's container; get_report overrides for that report only", async () => {
  const { d, dir } = await deps();
  const ipc = new ContainerIpc(d);
  const bad = decodeResponse(await ipc.handle(encodeSetDataReq(2, "x"), null));
  assertEquals(bad, { kind: "error", request: 2, message: "Invalid Container ID" });
  assertEquals(decodeResponse(await ipc.handle(encodeSetDataReq(2, "x"), 99)).kind, "error");
  assertEquals(d.state.containers.get(7)!.attestData, null);
  assertEquals(decodeResponse(await ipc.handle(encodeSetDataReq(2, "stored"), 7)), {
    kind: "set_data_ok",
  });
  assertEquals(d.state.containers.get(7)!.attestData, { type: 2, data: "stored" });
  const r = decodeResponse(await ipc.handle(encodeGetReportReq(1, 1n, 2n, 2, "once"), 7));
  if (r.kind !== "report") throw new Error(JSON.stringify(r));
  const json = JSON.parse(r.json);
  assertEquals(json.attestation_data, { "sha384/a/b": { "7": { type: 2, data: "once" } } });
  assertEquals(json.requestor_nonce, [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
  const v = verifyReport({
    data: r.data,
    rtmr3Log: r.rtmr3Log,
    attestationData: r.json,
    nonce: { lo: 1n, hi: 2n },
    allowSim: true,
    simPublicKey: d.tee.simPublicKey,
  });
  assertEquals(v.errors, []);
  // The override was not stored.
  assertEquals(d.state.containers.get(7)!.attestData, { type: 2, data: "stored" });
  const bt = decodeResponse(await ipc.handle(encodeGetReportReq(2, 1n, 2n, 0, ""), 7));
  assertEquals(bt, { kind: "error", request: 0, message: "Invalid request type" });
  await Deno.remove(dir, { recursive: true });
});

async function exchange(path: string, bytes: Uint8Array, halfClose = true): Promise<Uint8Array> {
  const c = await Deno.connect({ transport: "unix", path });
  if (bytes.length) await c.write(bytes);
  if (halfClose) await c.closeWrite();
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await c.read(buf).catch(() => null);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  c.close();
  const out = new Uint8Array(chunks.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const ch of chunks) out.set(ch, (o += ch.length) - ch.length);
  return out;
}

Deno.test("the socket: truncated, oversized and garbage messages get framed errors; it keeps serving", async () => {
  const { d, dir } = await deps();
  const ipc = new ContainerIpc(d, { readTimeoutMs: 500 });
  const path = `${dir}/shared/acon.sock`;
  const srv = await ipc.listen(path, () => 7);
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o666);
  const err = (m: Uint8Array) => decodeResponse(m);
  assertEquals(err(await exchange(path, new Uint8Array([1, 2, 3]))), {
    kind: "error",
    request: -1,
    message: "Invalid structure format",
  });
  const big = encodeSetDataReq(2, "x");
  new DataView(big.buffer).setUint32(4, MAX_MESSAGE + 1, true);
  assertEquals(err(await exchange(path, big)).kind, "error");
  const trunc = encodeGetReportReq(0, 1n, 1n, 2, "abcdef");
  assertEquals(err(await exchange(path, trunc.subarray(0, 30))), {
    kind: "error",
    request: 0,
    message: "Invalid structure format",
  });
  const short = new Uint8Array(12);
  new DataView(short.buffer).setUint32(4, 12, true); // get_report of 12 bytes: ACON's crash
  assertEquals(err(await exchange(path, short)).kind, "error");
  // A client that never finishes is cut off by the read deadline.
  assertEquals((await exchange(path, trunc.subarray(0, 10), false)).length, 0);
  // Still serving: set data, then a report carries it.
  assertEquals(err(await exchange(path, encodeSetDataReq(2, "via socket"))), {
    kind: "set_data_ok",
  });
  const rep = err(await exchange(path, encodeGetReportReq(0, 0n, 0n, 2, "via socket")));
  assertEquals(rep.kind, "report");
  srv.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("per-container sockets: the socket identifies the container; the next Report carries its data", async () => {
  const { d, dir } = await deps();
  d.state.containers.set(8, { id: 8, imageId: "sha384/a/b", attestData: null });
  const socks = new ContainerSockets(d, `${dir}/ipc`);
  const p7 = await socks.open(7);
  const p8 = await socks.open(8);
  assertEquals(p7, `${dir}/ipc/7.sock`);
  assertEquals(
    decodeResponse(await exchange(p7, encodeSetDataReq(2, "seven"))).kind,
    "set_data_ok",
  );
  assertEquals(
    decodeResponse(await exchange(p8, encodeSetDataReq(1, "eight"))).kind,
    "set_data_ok",
  );
  // The Report RPC path (makeReport) now carries both, each under its own container.
  const r = await makeReport(d, { nonceLo: 0n, nonceHi: 0n, requestType: 0 });
  assertEquals(JSON.parse(r.attestationData).attestation_data, {
    "sha384/a/b": { "7": { type: 2, data: "seven" }, "8": { type: 1, data: "eight" } },
  });
  await socks.close(7);
  await Deno.stat(p7).then(() => assertOk(false, "socket file left behind"), () => {});
  socks.closeAll();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the socket: the read deadline covers reading the request, not a slow quote or the queue", async () => {
  const { d, dir } = await deps();
  // A quote that takes longer than the read deadline (QGS round trips take seconds on hardware).
  const sim = d.tee;
  const slow = Object.assign(Object.create(sim), {
    quote: (rd: Uint8Array) =>
      new Promise<Uint8Array>((res) => setTimeout(() => res(sim.quote(rd)), 400)),
  });
  const ipc = new ContainerIpc({ ...d, tee: slow }, { readTimeoutMs: 150 });
  const path = `${dir}/slow.sock`;
  const srv = await ipc.listen(path, () => 7);
  // Two at once: the second also waits for the first in the serial queue.
  const [a, b] = await Promise.all(
    [1n, 2n].map((n) => exchange(path, encodeGetReportReq(1, n, 0n, 0, ""))),
  );
  assertEquals(decodeResponse(a).kind, "report");
  assertEquals(decodeResponse(b).kind, "report");
  srv.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the socket: a refused header's framed error is followed by EOF, not a connection reset", async () => {
  const { d, dir } = await deps();
  const ipc = new ContainerIpc(d, { readTimeoutMs: 500 });
  const path = `${dir}/strict.sock`;
  const srv = await ipc.listen(path, () => 7);
  const huge = encodeSetDataReq(2, "x"); // more bytes than the refused header lets us read
  new DataView(huge.buffer).setUint32(4, MAX_MESSAGE + 1, true);
  for (let i = 0; i < 5; i++) {
    const c = await Deno.connect({ transport: "unix", path });
    await c.write(huge);
    const got: number[] = [];
    const buf = new Uint8Array(4096);
    // A strict client: any error (ECONNRESET) fails the test.
    for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
      got.push(...buf.subarray(0, n));
    }
    c.close();
    assertEquals(decodeResponse(new Uint8Array(got)), {
      kind: "error",
      request: 2,
      message: "Invalid structure format",
    });
  }
  srv.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("accept loop: an accept error (EMFILE) is retried, the socket keeps serving; close ends it", async () => {
  const script: (() => string)[] = [
    () => "a",
    () => {
      throw new Error("Too many open files (os error 24)");
    },
    () => "b",
    () => {
      throw new Deno.errors.BadResource("closed");
    },
  ];
  const listener = { accept: () => Promise.resolve().then(script.shift()!) };
  const got: string[] = [];
  await acceptLoop(listener, (c) => got.push(c), () => false, "test", 1);
  assertEquals(got, ["a", "b"]);
  assertEquals(script.length, 0);
  // Closed while an accept fails: it ends without retrying.
  let closed = false;
  const failing = {
    accept: () => {
      closed = true;
      return Promise.reject(new Error("EBADF"));
    },
  };
  await acceptLoop(failing, () => got.push("x"), () => closed, "test", 1);
  assertEquals(got, ["a", "b"]);
});
