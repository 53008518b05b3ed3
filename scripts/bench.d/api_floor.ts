/**
 * The floors of scripts/bench's api section, on plain `Deno.serve` (HTTP/1.1 and h2c):
 *   api_floor.ts connect PORT   connect-es's router answering Health (Connect JSON, gRPC, gRPC-web)
 *                               with a constant HealthResponse shaped like acond --dev's answer
 *   api_floor.ts bare PORT      Health's path answered with a fixed body of the same JSON
 * Prints one line when listening.
 */
import { connectHealth } from "./floor_connect.ts";

const [mode, port] = Deno.args;
// As acond --dev --tee sim answers (uptime fixed), so both floors send the bytes acond sends.
const answer = {
  version: "0.1.0",
  apiVersion: "1.0.0",
  tee: "sim",
  uptimeMs: 2784n,
  minHash: "sha384",
  canMeasure: true,
  teeNote: "software simulation (requested): reports and quotes are not from TDX hardware",
};
const path = "/acon.grpc.AconService/Health";
const body = new TextEncoder().encode(
  JSON.stringify({ ...answer, uptimeMs: String(answer.uptimeMs) }),
);
const handler = mode === "connect"
  ? connectHealth(answer)
  : mode === "bare"
  ? (req: Request) =>
    new URL(req.url).pathname === path
      ? new Response(body, { headers: { "content-type": "application/json" } })
      : new Response("no such RPC\n", { status: 404 })
  : null;
if (handler === null) {
  console.error("usage: api_floor.ts connect|bare PORT");
  Deno.exit(2);
}
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(port),
  onListen: () => console.log(`${mode} floor listening`),
}, handler);
