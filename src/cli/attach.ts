/** aconctl attach and exec -it: raw-mode sessions on acond's terminals (./terminal.ts). */
import { Code, ConnectError } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { type Command, type CommandContext, printJson, UsageError } from "./command.ts";
import { ListTerminalsResponseSchema } from "../gen/acon_pb.ts";
import { runSession, type TerminalId } from "./terminal.ts";
import { HOTKEY_TEXT } from "../console/hotkey.ts";

const HOW_TO_TURN_ON =
  "interactive mode is off in this acond: boot the VM with acond.interactive on the kernel " +
  "command line (dev mode: acond --dev --interactive); docs/console.md";

function uint(s: string | undefined, what: string): number {
  const n = Number(s);
  if (!s || !/^\d{1,10}$/.test(s) || n > 0xffff_ffff) {
    throw new UsageError(`expected ${what}, got "${s ?? ""}"`);
  }
  return n;
}

/** A refusal because interactive mode is off says how to turn it on. */
async function hinted<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof ConnectError && e.code === Code.FailedPrecondition) {
      const hint = /acond\.interactive/.test(e.rawMessage) ? "" : ` (${HOW_TO_TURN_ON})`;
      throw new ConnectError(`${e.rawMessage}${hint}`, e.code);
    }
    throw e;
  }
}

function session(c: CommandContext, t: TerminalId): Promise<number> {
  return hinted(() => runSession(c.client(), t));
}

/** Strips control bytes: a container's command line must not drive the local terminal. */
const printable = (s: string) =>
  [...s].map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? "?" : ch)).join("");

export const terminalsCommand: Command = {
  name: "terminals",
  usage: "terminals",
  summary: "list the terminals (interactive mode): container/session, image, command, state, " +
    "clients attached, size",
  async run(c) {
    if (c.args.length) throw new UsageError(`unexpected argument "${c.args[0]}"`);
    const r = await hinted(() => c.client().listTerminals({}));
    if (c.json) {
      printJson(toJson(ListTerminalsResponseSchema, r, { alwaysEmitImplicit: true }));
      return 0;
    }
    console.log("TERMINAL\tIMAGE\tCOMMAND\tSTATE\tATTACHED\tSIZE");
    for (const t of r.terminals) {
      console.log(
        `${t.terminal?.containerId}/${t.terminal?.session}\t${t.imageId}\t` +
          `${printable(t.command)}\t${t.exited ? "exited" : "running"}\t${t.attached}\t` +
          `${t.rows}x${t.cols}`,
      );
    }
    return 0;
  },
};

export const attachCommand: Command = {
  name: "attach",
  usage: "attach CID[/SESSION] [--session N]",
  summary: "a raw terminal session on a container's own terminal (session 0) or an interactive " +
    `Exec's; detach with ${HOTKEY_TEXT} (the program goes on)`,
  run(c) {
    let id: string | undefined;
    let sessionArg: string | undefined;
    for (let i = 0; i < c.args.length; i++) {
      const a = c.args[i];
      if (a === "--session") sessionArg = c.args[++i] ?? "";
      else if (a.startsWith("--session=")) sessionArg = a.slice(10);
      else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
      else if (id === undefined) id = a;
      else throw new UsageError(`unexpected argument "${a}"`);
    }
    if (id === undefined) throw new UsageError("attach needs CID (see inspect)");
    const [cid, sess, extra] = id.split("/");
    if (extra !== undefined || (sess !== undefined && sessionArg !== undefined)) {
      throw new UsageError(`give the session once: CID/SESSION or --session N, not "${id}"`);
    }
    return session(c, {
      containerId: uint(cid, "a container id"),
      session: uint(sess ?? sessionArg ?? "0", "a session number"),
    });
  },
};

/** `exec -it ...`: the leading flags are -i and -t (together or apart) and --env K=V. */
export function isInteractiveExec(args: string[]): boolean {
  for (const a of args) {
    if (a === "--env") continue;
    if (/^-(it|ti|i|t)$/.test(a)) return true;
    if (!a.startsWith("-")) return false;
  }
  return false;
}

/**
 * `exec -it CID NAME [ARGS...]`: an interactive Exec (timeout 0: its own pty) and a session on
 * it. Flags come before CID; everything after NAME is the program's, as typed.
 */
export async function execInteractive(c: CommandContext): Promise<number> {
  let i = 0, flagI = false, flagT = false;
  const envs: string[] = [];
  for (; i < c.args.length; i++) {
    const a = c.args[i];
    if (a === "-i") flagI = true;
    else if (a === "-t") flagT = true;
    else if (a === "-it" || a === "-ti") flagI = flagT = true;
    else if (a === "--env") {
      const v = c.args[++i];
      if (v === undefined) throw new UsageError("--env needs K=V");
      envs.push(v);
    } else if (a.startsWith("--env=")) envs.push(a.slice(6));
    else if (a === "--") {
      i++;
      break;
    } else if (a.startsWith("-")) {
      throw new UsageError(`unknown option ${a} (exec -it takes --env K=V before CID)`);
    } else break;
  }
  if (!flagI || !flagT) {
    throw new UsageError("an interactive exec needs both -i and -t (-it)");
  }
  const [id, name, ...args] = c.args.slice(i);
  if (!name) throw new UsageError("exec -it needs CID NAME");
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError("exec -it needs a terminal: stdin is not a tty");
  }
  const containerId = uint(id, "a container id");
  let r;
  try {
    r = await c.client().exec({
      containerId,
      command: name,
      arguments: args,
      envs,
      timeout: 0n,
      stdin: new Uint8Array(),
      captureSize: 0n,
    });
  } catch (e) {
    if (e instanceof ConnectError && e.code === Code.FailedPrecondition) {
      const hint = /acond\.interactive/.test(e.rawMessage) ? "" : ` (${HOW_TO_TURN_ON})`;
      throw new ConnectError(`${e.rawMessage}${hint}`, e.code);
    }
    throw e;
  }
  if (!r.session) {
    throw new Error("acond returned no terminal for the interactive Exec (an older acond?)");
  }
  return await session(c, { containerId, session: r.session });
}
