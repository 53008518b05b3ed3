/**
 * Issue 10 item 11: six concurrent 60 MB binary unary AddBlobs. The body of a binary (Connect
 * proto, gRPC-web) AddBlob is streamed into the extraction as it arrives (api/addblob_stream.ts),
 * so the daemon's peak memory grows by a small constant per request, not by the bodies: before,
 * two admitted 62.9 MB bodies (the others refused with `unavailable`) grew VmHWM by ~550 MiB.
 */
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { AconService } from "../../src/gen/acon_pb.ts";
import { createHash } from "node:crypto";
import { assert, assertEquals } from "../helpers/assert.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { bigLayer, vmHwm } from "../helpers/big_layer.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";

const MiB = 1 << 20;
const sha384 = (b: Uint8Array) => createHash("sha384").update(b).digest("hex");
/** Six streamed AddBlobs stay well under this; six buffered ones cannot (each holds its body). */
const BOUND = 250 * MiB;

Deno.test("AddBlob memory: six concurrent 60 MB binary unary AddBlobs grow VmHWM < 250 MiB", async () => {
  const layers = [];
  for (let i = 0; i < 6; i++) layers.push(await bigLayer(60, 100 + i));
  const warm = await bigLayer(2, 99);
  const d = await startDaemon();
  try {
    const m = await signedManifest(
      await makeSigner("ec-p384"),
      baseManifest({ layers: [warm, ...layers].map((l) => `sha384/${sha384(l)}`) }),
    );
    await d.client().addManifest({ ...m });
    // Loads the upload machinery (deferred at boot) before the baseline.
    await d.client().addBlob({ alg: 2, data: warm });
    const before = vmHwm(d.proc.pid);
    // Each on its own connection (a client of its own), half Connect binary, half gRPC-web.
    const results = await Promise.allSettled(
      layers.map(async (data, i) => {
        const http = Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } });
        const o = {
          baseUrl: "http://localhost",
          fetch: ((input, init) => fetch(input, { ...init, client: http })) as typeof fetch,
        };
        const t = i % 2
          ? createGrpcWebTransport(o)
          : createConnectTransport({ ...o, useBinaryFormat: true });
        try {
          await createClient(AconService, t).addBlob({ alg: 2, data });
        } finally {
          http.close();
        }
      }),
    );
    const growth = vmHwm(d.proc.pid) - before;
    console.log(
      `VmHWM growth for 6 × ${layers[0].length} B AddBlobs: ${(growth / MiB).toFixed(1)} MiB`,
    );
    assert(growth < BOUND, `VmHWM grew by ${(growth / MiB).toFixed(1)} MiB (bound ${BOUND / MiB})`);
    const failed = results.flatMap((r) =>
      r.status === "rejected" ? [ConnectError.from(r.reason).message] : []
    );
    assertEquals(failed, []);
    for (const l of layers) {
      assertEquals(
        Deno.readDirSync(`${d.root}/contents/sha384/${sha384(l)}/data`).toArray().length,
        60,
      );
    }
  } finally {
    await d.stop();
  }
});
