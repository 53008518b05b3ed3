/** aconctl: the command-line client of acond. */
import { toJson } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { AddrError, connect, describeConnectionError, resolveAddr } from "./client.ts";
import { type Command, printJson, UsageError, withNumbers } from "./command.ts";
import { wantsHelp } from "./image/args.ts";
import { imageCommands } from "./images.ts";
import { containerCommands } from "./containers.ts";
import { runtimeCommands, splitExecArgs } from "./runtime.ts";
import { completionCommand } from "./completion.ts";
import { ACOND_VERSION } from "../version.ts";
import { reportCommands } from "./report.ts";
import { dcapCommands } from "./dcap.ts";
import { imageSideCommands } from "./image/mod.ts";
import { attachCommand, terminalsCommand } from "./attach.ts";
import { HealthResponseSchema } from "../gen/acon_pb.ts";
import { TcpSession, TlsRefused } from "./tls.ts";
import { verifySettings } from "./evidence.ts";

const health: Command = {
  name: "health",
  usage: "health",
  summary: "acond's version, TEE backend and state (JSON)",
  async run(c) {
    const h = await c.client().health({});
    printJson(withNumbers(toJson(HealthResponseSchema, h), h));
    return 0;
  },
};

const COMMANDS: Command[] = [
  health,
  ...imageCommands,
  ...imageSideCommands,
  ...runtimeCommands,
  ...containerCommands,
  attachCommand,
  terminalsCommand,
  ...reportCommands,
  ...dcapCommands,
];
COMMANDS.push(completionCommand(() => COMMANDS));

/** Exit statuses (docs/aconctl.md). */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, untrusted: 4 } as const;

function help(): string {
  return `aconctl: the client of acond

Usage: aconctl [--socket PATH | --tcp HOST:PORT] [TLS flags] [--json] COMMAND [ARGS]
       aconctl COMMAND --help | aconctl --version
  The address can also come from ACON_ADDR (unix:PATH, /PATH, tcp:HOST:PORT, http(s)://HOST:PORT
  or HOST:PORT); the default is unix:/run/acond/acond.sock. --json (anywhere) prints JSON.

TCP is attested TLS: before any request aconctl checks the certificate's evidence (the quote
binds the certificate's key; the quote is judged as \`aconctl verify\` judges one) and refuses the
server otherwise (docs/aconctl.md). TLS flags (before the command):
  --allow-sim          accept simulated or mock-TDX evidence (dev mode, sim TEE)
  --policy FILE        reference values and allowances, as for verify (--help of verify)
  --collateral FILE | --pccs URL   DCAP collateral for a real TDX quote
  --insecure           no check at all (also plain HTTP, acond.tls=off): a loud warning
  A fresh \`aconctl report\` with your nonce is still what proves freshness.

Exit status: 0 success; 1 a failure (acond refused, a file is wrong…); 2 a usage error;
3 acond could not be reached (no socket, connection refused, not acond); 4 the TCP server's
attested certificate did not verify (nothing was sent). exec -it and attach end with the
program's status.

Commands:
${COMMANDS.map((c) => `  ${c.usage}\n      ${c.summary}`).join("\n")}

Terminal sessions (attach, exec -it; acond in interactive mode): the local terminal is raw and
everything typed goes to the remote program, Ctrl-C included. Detach with Ctrl+Alt+O then x
(the program goes on; attach again later, its recent output is shown first). When the program
exits, aconctl exits with its status (128+N for signal N). The local terminal is restored on
every way out. See docs/console.md.
`;
}

/** Splits global flags (before the command) from the command and its arguments. */
function splitGlobal(argv: string[]) {
  const g: {
    socket?: string;
    tcp?: string;
    json: boolean;
    help: boolean;
    version: boolean;
    insecure: boolean;
    /** The verification flags that apply to the TLS certificate (parseArgs names). */
    verify: Record<string, string | boolean>;
  } = { json: false, help: false, version: false, insecure: false, verify: {} };
  const valued = ["--socket", "--tcp", "--policy", "--collateral", "--pccs"];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const flag = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    if (valued.includes(flag)) {
      const v = eq > 0 && flag !== a ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      if (flag === "--socket") g.socket = v;
      else if (flag === "--tcp") g.tcp = v;
      else g.verify[flag.slice(2)] = v;
    } else if (a === "--allow-sim") g.verify["allow-sim"] = true;
    else if (a === "--insecure") g.insecure = true;
    else if (a === "--json") g.json = true;
    else if (a === "-h" || a === "--help") g.help = true;
    else if (a === "--version" || a === "-V") g.version = true;
    else break;
  }
  return { g, name: argv[i], rest: argv.slice(i + 1).filter((a) => a !== "--json"), argv };
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = splitGlobal(argv);
  } catch (e) {
    console.error(`aconctl: ${(e as Error).message}`);
    return 2;
  }
  const { g, name, rest } = parsed;
  if (g.version || name === "version") {
    if (g.json || argv.includes("--json")) printJson({ aconctl: ACOND_VERSION });
    else console.log(`aconctl ${ACOND_VERSION}`);
    return 0;
  }
  const topic = name === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
  if (topic) {
    console.log(
      `usage: aconctl ${topic.usage}\n\n${topic.summary}${topic.help ? `\n\n${topic.help}` : ""}`,
    );
    return 0;
  }
  if (g.help || !name || name === "help") {
    console.log(help());
    return name || g.help ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`aconctl: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (wantsHelp(cmd.name === "exec" ? splitExecArgs(rest).head : rest)) {
    console.log(
      `usage: aconctl ${cmd.usage}\n\n${cmd.summary}${cmd.help ? `\n\n${cmd.help}` : ""}`,
    );
    return 0;
  }
  let addr: string;
  try {
    addr = resolveAddr(g.socket, g.tcp, Deno.env.get("ACON_ADDR"));
  } catch (e) {
    if (!(e instanceof AddrError)) throw e;
    console.error(`aconctl: ${e.message}`);
    return EXIT.usage;
  }
  let client: ReturnType<typeof connect> | undefined;
  let session: TcpSession | undefined;
  try {
    const open = () => {
      if (!addr.startsWith("tcp:")) return connect(addr);
      session = new TcpSession(addr, {
        insecure: g.insecure,
        settings: verifySettings(g.verify),
        warn: (l) => console.error(l),
      });
      return connect(addr, session);
    };
    return await cmd.run({
      client: () => client ??= open(),
      json: g.json || argv.includes("--json"),
      args: rest,
    });
  } catch (thrown) {
    if (session?.failure instanceof TlsRefused) {
      console.error(`aconctl ${name}: ${session.failure.message}`);
      return EXIT.untrusted;
    }
    // When the connection failed, what the TCP forwarder met (a refused connection, a failed
    // handshake) says more than fetch's error; an answer of acond's is reported as it is.
    const connLevel = !(thrown instanceof ConnectError) || thrown.cause instanceof TypeError;
    const e = connLevel && session?.failure ? session.failure : thrown;
    if (e instanceof UsageError) {
      console.error(`aconctl ${name}: ${e.message}\nusage: aconctl ${cmd.usage}`);
      return 2;
    }
    const conn = describeConnectionError(addr, e);
    if (conn) {
      console.error(`aconctl ${name}: ${conn}`);
      return EXIT.unreachable;
    }
    if (e instanceof ConnectError) {
      console.error(`aconctl ${name}: ${e.rawMessage} [${codeName(e.code)}]`);
      return 1;
    }
    console.error(`aconctl ${name}: ${(e as Error).message}`);
    return 1;
  } finally {
    session?.close();
  }
}

function codeName(code: number): string {
  return [
    "ok",
    "canceled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
  ][code] ?? String(code);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
