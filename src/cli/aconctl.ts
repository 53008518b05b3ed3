/** aconctl: the command-line client (grows with the client issue). */
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AconService } from "../gen/acon_pb.ts";
import { toJson } from "@bufbuild/protobuf";
import { HealthResponseSchema } from "../gen/acon_pb.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    socket: { type: "string" },
    tcp: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
  allowPositionals: true,
});

const HELP = `aconctl: talk to acond

Usage: aconctl [--socket PATH | --tcp HOST:PORT] COMMAND
  (or set ACON_ADDR=unix:/path or ACON_ADDR=host:port)

Commands:
  health    print acond's version, TEE backend and state as JSON
`;

if (values.help || positionals.length === 0) {
  console.log(HELP);
  Deno.exit(values.help ? 0 : 2);
}

const addr = values.socket
  ? `unix:${values.socket}`
  : values.tcp ?? Deno.env.get("ACON_ADDR") ?? "unix:/run/acond/acond.sock";
let fetchImpl: typeof fetch = fetch;
let baseUrl = "http://localhost";
if (addr.startsWith("unix:")) {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: addr.slice(5) } });
  fetchImpl = (input, init) => fetch(input, { ...init, client });
} else {
  baseUrl = `http://${addr.replace(/^tcp:/, "")}`;
}
const acon = createClient(
  AconService,
  createConnectTransport({ baseUrl, fetch: fetchImpl, useBinaryFormat: true }),
);

try {
  switch (positionals[0]) {
    case "health": {
      const h = await acon.health({});
      console.log(JSON.stringify(toJson(HealthResponseSchema, h), null, 2));
      break;
    }
    default:
      console.error(`aconctl: unknown command "${positionals[0]}"\n\n${HELP}`);
      Deno.exit(2);
  }
} catch (e) {
  console.error(`aconctl: ${(e as Error).message}`);
  Deno.exit(1);
}
