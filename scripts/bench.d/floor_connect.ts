/**
 * The floor plus acond's API runtime: the same minimal Deno PID 1 as floor.ts, but answering
 * Health through connect-es and protobuf-es with acond's generated service (Connect and gRPC-web,
 * as acond serves it). Measures what the pinned RPC stack costs at boot, apart from acond's own
 * work. Loaded by floor_connect_entry.ts (code-split, so that the image's code cache covers it).
 */
import { createConnectRouter } from "@connectrpc/connect";
import { createFetchHandler } from "@connectrpc/connect/protocol";
import { AconService } from "../../src/gen/acon_pb.ts";
import { upNetwork } from "./floor_net.ts";

export function main(): void {
  upNetwork();
  const router = createConnectRouter();
  router.rpc(AconService.method.health, () => ({ version: "floor", pid1: true }));
  const health = createFetchHandler(router.handlers[0]);
  const onListen = () =>
    console.log(`floor+connect listening in ${performance.now().toFixed(0)} ms`);
  Deno.serve(
    { hostname: "0.0.0.0", port: 1025, onListen },
    (req) =>
      new URL(req.url).pathname === router.handlers[0].requestPath
        ? health(req)
        : new Response("no such RPC\n", { status: 404 }),
  );
}
