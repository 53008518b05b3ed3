/**
 * The floor plus acond's API runtime: the same minimal Deno PID 1 as floor.ts, but answering
 * Health through connect-es and protobuf-es with acond's generated service (Connect and gRPC-web,
 * as acond serves it). Measures what the pinned RPC stack costs at boot, apart from acond's own
 * work. Loaded by floor_connect_entry.ts (code-split, so that the image's code cache covers it).
 * `connectHealth` is also the RPC stack's floor of scripts/bench's api section (api_floor.ts).
 */
import { createConnectRouter } from "@connectrpc/connect";
import { createFetchHandler } from "@connectrpc/connect/protocol";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AconService, type HealthResponseSchema } from "../../src/gen/acon_pb.ts";
import { buildCertificate, pem } from "../../src/attest/ratls/cert_build.ts";
import { upNetwork } from "./floor_net.ts";

/** connect-es's router with a Health that answers `response`; anything else is a 404. */
export function connectHealth(
  response: MessageInitShape<typeof HealthResponseSchema>,
): (req: Request) => Response | Promise<Response> {
  const router = createConnectRouter();
  router.rpc(AconService.method.health, () => response);
  const health = createFetchHandler(router.handlers[0]);
  const path = router.handlers[0].requestPath;
  return (req) =>
    new URL(req.url).pathname === path
      ? health(req)
      : new Response("no such RPC\n", { status: 404 });
}

/**
 * Serves Health on port 1025. With `tls`, over TLS with a certificate made at boot as acond makes
 * its own: a new ECDSA P-384 key (WebCrypto), self-signed through acond's DER builder, but without
 * evidence (no event, no quote). What any API server with a key made per boot pays before it
 * listens: the runtime's random generator starts on the first key, which under TCG costs about
 * half a second (docs/boot.md).
 */
export async function main(tls = false): Promise<void> {
  upNetwork();
  const name = tls ? "floor+connect+tls" : "floor+connect";
  const onListen = () => console.log(`${name} listening in ${performance.now().toFixed(0)} ms`);
  Deno.serve(
    { hostname: "0.0.0.0", port: 1025, onListen, ...(tls ? await bootCertificate() : {}) },
    connectHealth({ version: "floor", pid1: true }),
  );
}

async function bootCertificate(): Promise<{ cert: string; key: string }> {
  const alg = { name: "ECDSA", namedCurve: "P-384" };
  const pair = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const der = await buildCertificate(
    { spki },
    async (tbs) =>
      new Uint8Array(
        await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, pair.privateKey, tbs.slice()),
      ),
  );
  return { cert: pem("CERTIFICATE", der), key: pem("PRIVATE KEY", pkcs8) };
}
