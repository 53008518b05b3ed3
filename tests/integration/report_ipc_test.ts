/**
 * The container-facing socket of a running dist/acond --dev (<root>/shared/acon.sock): hostile
 * messages get framed errors and the daemon keeps serving both the socket and the API; an
 * anonymous caller's report verifies; setting data needs a known container.
 */
import { assertEquals } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import {
  decodeResponse,
  encodeGetReportReq,
  encodeSetDataReq,
  MAX_MESSAGE,
} from "../../src/attest/ipc.ts";
import { verifyReport } from "../../src/attest/verify.ts";

async function exchange(path: string, bytes: Uint8Array): Promise<Uint8Array> {
  const c = await Deno.connect({ transport: "unix", path });
  try {
    if (bytes.length) await c.write(bytes);
    await c.closeWrite();
    const parts: number[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await c.read(buf);
      if (n === null) break;
      parts.push(...buf.subarray(0, n));
    }
    return new Uint8Array(parts);
  } finally {
    c.close();
  }
}

Deno.test("container socket: framed errors for hostile input, reports verify, daemon survives", async () => {
  const d = await startDaemon();
  try {
    const path = `${d.root}/shared/acon.sock`;
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o666);
    const bad = (request: number, message = "Invalid structure format") => ({
      kind: "error",
      request,
      message,
    });
    assertEquals(decodeResponse(await exchange(path, new Uint8Array())), bad(-1));
    assertEquals(decodeResponse(await exchange(path, new Uint8Array([0, 0, 0]))), bad(-1));
    const huge = encodeSetDataReq(2, "x");
    new DataView(huge.buffer).setUint32(4, MAX_MESSAGE + 1, true);
    assertEquals(decodeResponse(await exchange(path, huge)), bad(2));
    const short = new Uint8Array(12);
    new DataView(short.buffer).setUint32(4, 12, true); // a 12-byte get_report (ACON's panic)
    assertEquals(decodeResponse(await exchange(path, short)), bad(0));
    const trunc = encodeGetReportReq(1, 1n, 2n, 2, "hello");
    assertEquals(decodeResponse(await exchange(path, trunc.subarray(0, 20))), bad(0));
    const unknown = encodeSetDataReq(2, "x");
    new DataView(unknown.buffer).setInt32(0, 77, true);
    assertEquals(decodeResponse(await exchange(path, unknown)), bad(77, "Request not supported"));
    // No container is calling: set data is refused, nothing stored.
    assertEquals(
      decodeResponse(await exchange(path, encodeSetDataReq(2, "x"))),
      bad(2, "Invalid Container ID"),
    );
    // A report over the socket (quote, ACON's swapped nonce words) verifies.
    const r = decodeResponse(
      await exchange(path, encodeGetReportReq(1, 0x1234n, 0x5678n, 2, "hi")),
    );
    if (r.kind !== "report") throw new Error(JSON.stringify(r));
    const h = await d.client().report({ nonceLo: 0n, nonceHi: 0n, requestType: 0 });
    const v = verifyReport({
      data: r.data,
      rtmr3Log: r.rtmr3Log,
      attestationData: r.json,
      nonce: { lo: 0x1234n, hi: 0x5678n },
      allowSim: true,
      simPublicKey: h.simPublicKey,
    });
    assertEquals(v.errors, []);
    assertEquals((await d.client().health({})).tee, "sim");
  } finally {
    await d.stop();
  }
});
