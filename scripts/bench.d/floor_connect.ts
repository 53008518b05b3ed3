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

export function main(): void {
  upNetwork();
  const onListen = () =>
    console.log(`floor+connect listening in ${performance.now().toFixed(0)} ms`);
  Deno.serve(
    { hostname: "0.0.0.0", port: 1025, onListen },
    connectHealth({ version: "floor", pid1: true }),
  );
}
