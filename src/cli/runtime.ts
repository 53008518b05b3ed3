/**
 * aconctl's docker-like runtime commands: run, ps, images, stop, restart, kill, logs, events,
 * exec (batch; exec -it is in ./attach.ts).
 */
import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Command, type CommandContext, printJson, UsageError } from "./command.ts";
import type { AconClient } from "./client.ts";
import { type ContainerInfo, Event_Kind, type ImageInfo } from "../gen/acon_pb.ts";
import { loadImage } from "./image/imagedir.ts";
import { parseRate, pushImage } from "./images.ts";
import { namespaceInitWarning, parseSignal, signalName } from "./signals.ts";
import { parseSince, psRow, psTable, shortImageId, table, tailChunks } from "./format.ts";
import { execInteractive, isInteractiveExec } from "./attach.ts";

export function cid(s: string | undefined): number {
  const n = Number(s);
  if (!s || !/^[0-9]+$/.test(s) || n > 0xffffffff) {
    throw new UsageError(`expected a container id (a number, as ps shows), got "${s ?? ""}"`);
  }
  return n;
}

function flags<O extends NonNullable<Parameters<typeof parseArgs>[0]>["options"]>(
  args: string[],
  options: O,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
}

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`${name} takes a whole number, not "${v}"`);
  return Number(v);
}

/** The images acond holds, by id (empty from an acond without ListImages). */
export async function imageMap(client: AconClient): Promise<Map<string, ImageInfo>> {
  try {
    const r = await client.listImages({});
    return new Map(r.images.map((i) => [i.imageId, i]));
  } catch (e) {
    if (e instanceof ConnectError && e.code === Code.Unimplemented) return new Map();
    throw e;
  }
}

async function inspectOne(client: AconClient, id: number): Promise<ContainerInfo> {
  const r = await client.inspect({ containerId: id });
  const i = r.info.find((x) => x.containerId === id);
  if (!i) throw new Error(`acond reports no container ${id}`);
  return i;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls Inspect until the container has exited or `ms` passed; its info, or null. */
async function waitExit(client: AconClient, id: number, ms: number): Promise<ContainerInfo | null> {
  const end = Date.now() + ms;
  for (;;) {
    const i = await inspectOne(client, id);
    if (!i.running) return i;
    if (Date.now() >= end) return null;
    await sleep(Math.min(200, Math.max(1, end - Date.now())));
  }
}

function exitText(i: ContainerInfo): string {
  return i.exitSignal ? `killed by ${signalName(i.wstatus)}` : `exit status ${i.wstatus}`;
}

/** The manifest's first signal, as Restart and shutdown send it (0 or none: nothing). */
function firstSignal(img: ImageInfo | undefined): number | null {
  const s = img?.signals[0];
  return s === undefined || s === 0 ? null : s;
}

const NOT_LISTED = (sig: number, img: ImageInfo | undefined) =>
  `${signalName(sig)} is not in the manifest's signals ([${img?.signals.join(", ") ?? "?"}]); ` +
  `acond's Kill sends only those`;

interface StopOutcome {
  id: number;
  /** What was sent, in order (e.g. ["SIGTERM", "SIGKILL"]). */
  sent: string[];
  exited: boolean;
  exitCode: number | null;
  exitSignal: string | null;
  /** Already exited before stop was asked. */
  alreadyExited: boolean;
  message: string;
}

/**
 * stop: the manifest's first signal, up to `graceS` seconds for the exit, then SIGKILL (when the
 * manifest lists it: Kill allows nothing else).
 */
async function stopContainer(client: AconClient, id: number, graceS: number): Promise<StopOutcome> {
  const out: StopOutcome = {
    id,
    sent: [],
    exited: false,
    exitCode: null,
    exitSignal: null,
    alreadyExited: false,
    message: "",
  };
  const done = (i: ContainerInfo, msg: string) => {
    out.exited = true;
    out.exitCode = i.exitSignal ? null : i.wstatus;
    out.exitSignal = i.exitSignal ? signalName(i.wstatus) : null;
    out.message = msg;
    return out;
  };
  const info = await inspectOne(client, id);
  if (!info.running) {
    out.alreadyExited = true;
    return done(info, `container ${id} had already exited (${exitText(info)})`);
  }
  const img = (await imageMap(client)).get(info.imageId);
  const first = firstSignal(img);
  const notes: string[] = [];
  if (first !== null) {
    await client.kill({ containerId: id, signalNum: first });
    out.sent.push(signalName(first));
  } else notes.push("its manifest's first signal is none (0 or no signals): waited without one");
  const exited = await waitExit(client, id, graceS * 1000);
  if (exited) {
    return done(
      exited,
      `container ${id} ${exitText(exited)}` +
        (first !== null ? ` after ${signalName(first)}` : "") +
        (notes.length ? ` (${notes.join("; ")})` : ""),
    );
  }
  const why = `did not exit within ${graceS} s` +
    (first !== null && Math.abs(first) !== 9
      ? ` of ${signalName(first)} (as its PID namespace's init it gets it only if it handles it)`
      : "");
  if (!img?.signals.includes(9)) {
    out.message = `container ${id} ${why}, and ${NOT_LISTED(9, img)}: it is still running`;
    return out;
  }
  await client.kill({ containerId: id, signalNum: 9 });
  out.sent.push("SIGKILL");
  const killed = await waitExit(client, id, 10_000);
  if (!killed) {
    out.message = `container ${id} ${why}; sent SIGKILL, and it has not exited 10 s later`;
    return out;
  }
  return done(killed, `container ${id} ${why}; sent SIGKILL: ${exitText(killed)}`);
}

function printOutcome(c: CommandContext, o: unknown, msg: string, ok: boolean): number {
  if (c.json) printJson(o);
  else if (ok) console.log(msg);
  else console.error(`aconctl: ${msg}`);
  return ok ? 0 : 1;
}

/** `exec [FLAGS] CID NAME [ARGS...]`: flags before CID; `--` accepted before or after NAME. */
export function splitExecArgs(args: string[]) {
  const head: string[] = [];
  let i = 0;
  const withValue = new Set(["--timeout", "--stdin", "--capture", "--env", "-e"]);
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    head.push(a);
    if (withValue.has(a)) head.push(args[++i] ?? "");
  }
  const pos = args.slice(i);
  // CID, then (after an optional `--`) NAME and everything after it as the program's.
  const id = pos[0];
  let rest = pos.slice(1);
  if (rest[0] === "--") rest = rest.slice(1);
  return { head, id, name: rest[0], args: rest.slice(1) };
}

export const ENTRYPOINT_RULE =
  "Exec runs only a public entry point: an executable /lib/acon/entrypoint.d/NAME in the " +
  "container's image, whose NAME starts with an uppercase letter (e.g. Echo, Status); lowercase " +
  "names are private and any other program of the image cannot be run directly. Give the image " +
  'such a file (docs/manifest.md, "Exec\'s entry points")';

/** A name Exec could run (acond's rule, src/container/rules.ts isPublicEntrypoint). */
export function isPublicEntrypoint(name: string): boolean {
  return name !== "" && !name.includes("/") && !name.includes("\0") && /^\p{Lu}/u.test(name);
}

const EVENT_WORDS: Record<number, string> = {
  [Event_Kind.IMAGE_ADDED]: "image-added",
  [Event_Kind.CONTAINER_STARTED]: "started",
  [Event_Kind.CONTAINER_EXITED]: "exited",
  [Event_Kind.CONTAINER_RESTARTED]: "restarted",
  [Event_Kind.FINALIZED]: "finalized",
  [Event_Kind.CONTAINER_OOM]: "oom",
  [Event_Kind.CONTAINER_PIDS_LIMIT]: "pids-limit",
};

export interface EventInput {
  kind: number;
  containerId: number;
  imageId: string;
  wstatus: number;
  exitSignal: boolean;
  timeMs: number;
  count: number;
}

/** One event as --json prints it: words and numbers. */
export function eventJson(e: EventInput) {
  const kind = EVENT_WORDS[e.kind] ?? `kind-${e.kind}`;
  const o: Record<string, unknown> = {
    time: new Date(e.timeMs).toISOString(),
    timeMs: e.timeMs,
    kind,
  };
  if (e.containerId) o.containerId = e.containerId;
  if (e.imageId) o.imageId = e.imageId;
  if (e.kind === Event_Kind.CONTAINER_EXITED) {
    o.exitCode = e.exitSignal ? null : e.wstatus;
    o.exitSignal = e.exitSignal ? signalName(e.wstatus) : null;
  }
  if (e.kind === Event_Kind.CONTAINER_OOM || e.kind === Event_Kind.CONTAINER_PIDS_LIMIT) {
    o.count = e.count;
  }
  return o;
}

/** One event as a line of text. */
export function eventLine(e: EventInput): string {
  const t = new Date(e.timeMs).toISOString();
  const img = e.imageId ? ` (image ${shortImageId(e.imageId)})` : "";
  switch (e.kind) {
    case Event_Kind.IMAGE_ADDED:
      return `${t} image ${e.imageId} added`;
    case Event_Kind.FINALIZED:
      return `${t} finalized: no more images`;
    case Event_Kind.CONTAINER_EXITED:
      return `${t} container ${e.containerId} exited: ` +
        (e.exitSignal ? `killed by ${signalName(e.wstatus)}` : `exit status ${e.wstatus}`) + img;
    case Event_Kind.CONTAINER_OOM:
      return `${t} container ${e.containerId} OOM kill (${e.count} so far)${img}`;
    case Event_Kind.CONTAINER_PIDS_LIMIT:
      return `${t} container ${e.containerId} hit its pids limit (${e.count} so far)${img}`;
    default:
      return `${t} container ${e.containerId} ${EVENT_WORDS[e.kind] ?? `event ${e.kind}`}${img}`;
  }
}

export const runtimeCommands: Command[] = [
  {
    name: "run",
    usage: "run [--env K=V ...] [-q] [--limit-rate BYTES] IMAGE_DIR | MANIFEST SIGNATURE CERT " +
      "[LAYER.tar ...]",
    summary: "push what acond is missing of an image, start a container, print its id",
    help: `Pushes the manifest (AddManifest; an image acond already holds is not sent again) and the
layers it lacks (resuming an interrupted upload, as push does), then starts one container.
  --env K=V, -e K=V   the container's environment (the manifest's env rules decide; repeatable)
  -q, --quiet         no progress bar
  --limit-rate BYTES  as push
Prints the container id; --json prints {containerId, imageId, uploads}.`,
    async run(c) {
      const { values, positionals } = flags(c.args, {
        env: { type: "string", multiple: true, short: "e" },
        quiet: { type: "boolean", short: "q" },
        "limit-rate": { type: "string" },
      });
      const img = await loadImage(positionals);
      const client = c.client();
      const rate = parseRate(values["limit-rate"]);
      const r = await pushImage(client, img, { quiet: values.quiet ?? false, rate });
      if (r.unresolved.length) {
        throw new Error(
          `acond lacks layers no file was given for: ${r.unresolved.join(", ")}` +
            ` (give the image directory, or the layer tars after MANIFEST SIGNATURE CERT)`,
        );
      }
      const { containerId } = await client.start({ imageId: r.imageId, envs: values.env ?? [] });
      if (c.json) printJson({ containerId, imageId: r.imageId, uploads: r.uploads });
      else console.log(containerId);
      return 0;
    },
  },
  {
    name: "ps",
    usage: "ps [-a] [--no-trunc] [-q]",
    summary: "list running containers (-a: exited ones too)",
    help:
      `Columns: CONTAINER ID, IMAGE (12 hex digits of the manifest's digest; --no-trunc: the whole
image id), COMMAND (the manifest's entrypoint), STATE (running, sleeping, disk-sleep, stopped,
zombie, or exited), STATUS (Up 5 minutes, Exited (0) 3 minutes ago, Killed (SIGKILL) …), PID
(the entry point's, on the VM).
  -a, --all       exited containers too
  --no-trunc      whole image ids and commands
  -q, --quiet     only the ids
--json: an array of {id, image, imageShort, command, state, running, pid, startedAt,
uptimeSeconds, exitedAt, exitCode, exitSignal} (numbers as numbers, null when not applicable).`,
    async run(c) {
      const { values } = flags(c.args, {
        all: { type: "boolean", short: "a" },
        "no-trunc": { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
      });
      const client = c.client();
      const [r, images] = [await client.inspect({ containerId: 0 }), await imageMap(client)];
      const now = Date.now();
      const rows = r.info
        .filter((i) => values.all || i.running)
        .map((i) =>
          psRow({
            ...i,
            startedMs: Number(i.startedMs),
            exitedMs: Number(i.exitedMs),
            command: images.get(i.imageId)?.entrypoint,
          }, now)
        );
      if (c.json) printJson(rows);
      else if (values.quiet) { for (const x of rows) console.log(x.id); }
      else console.log(psTable(rows, now, values["no-trunc"] ?? false));
      return 0;
    },
  },
  {
    name: "images",
    usage: "images [--no-trunc] [-q]",
    summary: "list the images acond holds",
    help:
      `Columns: IMAGE ID (12 hex digits of the manifest's digest; --no-trunc: the whole id, which
start and get-manifest take), ALIASES (the manifest's aliases.self), LAYERS (how many), COMMAND.
  -q, --quiet   only the ids (whole)
--json: an array of {id, idShort, aliases, layers, entrypoint, signals}.`,
    async run(c) {
      const { values } = flags(c.args, {
        "no-trunc": { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
      });
      const client = c.client();
      let list: ImageInfo[];
      try {
        list = (await client.listImages({})).images;
      } catch (e) {
        if (e instanceof ConnectError && e.code === Code.Unimplemented) {
          throw new Error(
            "this acond cannot list its images (no ListImages RPC: older than aconctl)",
          );
        }
        throw e;
      }
      const rows = list.map((i) => ({
        id: i.imageId,
        idShort: shortImageId(i.imageId),
        aliases: i.aliases,
        layers: i.layers,
        entrypoint: i.entrypoint,
        signals: i.signals,
      }));
      if (c.json) printJson(rows);
      else if (values.quiet) { for (const x of rows) console.log(x.id); }
      else {
        console.log(table(
          ["IMAGE ID", "ALIASES", "LAYERS", "COMMAND"],
          rows.map((x) => [
            values["no-trunc"] ? x.id : x.idShort,
            x.aliases.join(",") || "-",
            String(x.layers.length),
            x.entrypoint.join(" "),
          ]),
        ));
      }
      return 0;
    },
  },
  {
    name: "stop",
    usage: "stop CID [--time N]",
    summary: "stop a container: its manifest's first signal, N s (default 10), then SIGKILL",
    help:
      `Sends the manifest's first signal (none when it is 0), waits up to N seconds for the exit,
then sends SIGKILL, which acond allows only when the manifest's signals list 9. Says what it sent
and how the container ended; exit status 1 when it is still running. The entry point is its PID
namespace's init: the kernel gives it SIGTERM (or any signal but SIGKILL and SIGSTOP) only if it
installed a handler, so a program that has none waits out the whole N seconds.
  -t, --time N   seconds to wait after the first signal (default 10)
--json: {id, sent, exited, exitCode, exitSignal, alreadyExited, message}.`,
    async run(c) {
      const { values, positionals } = flags(c.args, { time: { type: "string", short: "t" } });
      if (positionals.length !== 1) throw new UsageError("stop needs one CID");
      const o = await stopContainer(
        c.client(),
        cid(positionals[0]),
        int("--time", values.time, 10),
      );
      return printOutcome(c, o, o.message, o.exited);
    },
  },
  {
    name: "restart",
    usage: "restart CID [--time N]",
    summary: "restart a container: its manifest's first signal, N s (default 10), SIGKILL, start",
    help: `Restart (acond sends the manifest's first signal and waits up to N seconds for the exit,
then starts the entry point again in the same namespaces). When it did not exit in time and the
manifest lists SIGKILL (9), aconctl sends SIGKILL and restarts it then. --timeout S is an older
spelling of --time.
  -t, --time N   seconds to wait after the first signal (default 10)`,
    async run(c) {
      const { values, positionals } = flags(c.args, {
        time: { type: "string", short: "t" },
        timeout: { type: "string" },
      });
      if (positionals.length !== 1) throw new UsageError("restart needs one CID");
      const id = cid(positionals[0]);
      const grace = int("--time", values.time ?? values.timeout, 10);
      const client = c.client();
      const sent: string[] = [];
      let escalated = false;
      try {
        await client.restart({ containerId: id, timeout: BigInt(Math.max(1, grace)) });
      } catch (e) {
        if (!(e instanceof ConnectError && e.code === Code.DeadlineExceeded)) throw e;
        const info = await inspectOne(client, id);
        const img = (await imageMap(client)).get(info.imageId);
        if (info.running) {
          if (!img?.signals.includes(9)) {
            throw new Error(
              `container ${id} did not exit within ${grace} s, and ${NOT_LISTED(9, img)}: ` +
                `it is still running, not restarted`,
            );
          }
          await client.kill({ containerId: id, signalNum: 9 });
          sent.push("SIGKILL");
          escalated = true;
          if (!(await waitExit(client, id, 10_000))) {
            throw new Error(`container ${id}: sent SIGKILL, and it has not exited 10 s later`);
          }
        }
        await client.restart({ containerId: id, timeout: 10n });
      }
      const msg = escalated
        ? `container ${id} did not exit within ${grace} s; sent SIGKILL; restarted`
        : `container ${id} restarted`;
      return printOutcome(c, { id, restarted: true, sent, escalated }, msg, true);
    },
  },
  {
    name: "kill",
    usage: "kill CID SIGNAL",
    summary: "send a signal the manifest allows: TERM, SIGKILL, 15…; -TERM: the process group",
    help: `SIGNAL is a name (TERM, SIGTERM, usr1, RTMIN+1) or a number; a leading - aims it at the
process group. acond sends only signals the manifest's signals list, sign included. A signal to
the entry point itself (not its group) other than SIGKILL and SIGSTOP reaches it only if it
installed a handler: it is its PID namespace's init. acond does not report which handlers a
process has, so aconctl warns (on stderr; -q: not) whenever that may apply.
  -q, --quiet   no warning`,
    async run(c) {
      // By hand: `kill CID -TERM` (the group) must not read as a flag.
      const quiet = c.args.some((a) => a === "-q" || a === "--quiet");
      const positionals = c.args.filter((a) => a !== "-q" && a !== "--quiet" && a !== "--");
      if (positionals.length !== 2) throw new UsageError("kill needs CID SIGNAL");
      const [id, sigText] = positionals;
      const sig = parseSignal(sigText);
      const client = c.client();
      const containerId = cid(id);
      try {
        await client.kill({ containerId, signalNum: sig });
      } catch (e) {
        if (e instanceof ConnectError && e.code === Code.PermissionDenied) {
          const info = await inspectOne(client, containerId).catch(() => undefined);
          const img = info && (await imageMap(client)).get(info.imageId);
          throw new Error(`${NOT_LISTED(sig, img)} (acond: ${e.rawMessage})`);
        }
        throw e;
      }
      const warning = namespaceInitWarning(sig);
      if (warning && !quiet && !c.json) console.error(`aconctl: ${warning}`);
      if (c.json) printJson({ id: containerId, signal: signalName(sig), signalNum: sig, warning });
      return 0;
    },
  },
  {
    name: "logs",
    usage: "logs CID [-f] [--tail N] [--since T] [--new] [--timestamps]",
    summary: "print a container's captured output (its manifest's logFDs)",
    help:
      `Prints what acond's ring buffer still holds of the container's stdout and stderr (only the
descriptors the manifest's logFDs list are captured), each to the same stream here.
  -f, --follow      keep printing new output until the container exits (or Ctrl-C)
  --tail N          only the last N lines of what is held (then, with -f, what follows)
  --since T         only output captured since T: a duration (30s, 5m, 1h30m), seconds since the
                    epoch or a date (2026-01-31T12:00:00Z); by the VM's clock
  --new             nothing of what is held: only output from now on
  -t, --timestamps  prefix each chunk with the time acond captured it`,
    async run(c) {
      const { values, positionals } = flags(c.args, {
        follow: { type: "boolean", short: "f" },
        tail: { type: "string" },
        since: { type: "string" },
        new: { type: "boolean" },
        timestamps: { type: "boolean", short: "t" },
      });
      if (positionals.length !== 1) throw new UsageError("logs needs one CID");
      const containerId = cid(positionals[0]);
      const tail = values.tail === undefined || values.tail === "all"
        ? undefined
        : int("--tail", values.tail, 0);
      let since: number | undefined;
      try {
        since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const client = c.client();
      const enc = new TextEncoder();
      const write = async (ch: { fd: number; data: Uint8Array; timeMs: bigint }) => {
        const out = ch.fd === 2 ? Deno.stderr : Deno.stdout;
        if (c.json) {
          console.log(JSON.stringify({
            fd: ch.fd,
            timeMs: Number(ch.timeMs),
            data: new TextDecoder().decode(ch.data),
          }));
          return;
        }
        if (values.timestamps) {
          await out.write(enc.encode(`${new Date(Number(ch.timeMs)).toISOString()} `));
        }
        await out.write(ch.data);
      };
      const keep = (ch: { timeMs: bigint }) => since === undefined || Number(ch.timeMs) >= since;
      const fromStart = !values.new;
      if (tail === undefined || !fromStart) {
        for await (
          const ch of client.logs({ containerId, follow: values.follow ?? false, fromStart })
        ) if (keep(ch)) await write(ch);
        return 0;
      }
      // --tail: what is held, its last N lines; then (with -f) a follow from the start that skips
      // what was already seen (chunks up to the last one's capture time).
      const held = [];
      for await (const ch of client.logs({ containerId, follow: false, fromStart: true })) {
        if (keep(ch)) held.push(ch);
      }
      for (const ch of tailChunks(held, tail)) await write(ch);
      if (!values.follow) return 0;
      const lastMs = held.length ? held[held.length - 1].timeMs : -1n;
      let seen = 0;
      for await (const ch of client.logs({ containerId, follow: true, fromStart: true })) {
        if (ch.timeMs < lastMs || (ch.timeMs === lastMs && seen < held.length)) {
          seen++;
          continue;
        }
        if (keep(ch)) await write(ch);
      }
      return 0;
    },
  },
  {
    name: "events",
    usage: "events [--json]",
    summary: "stream lifecycle events (images added, containers started, exited, restarted…)",
    help: `One line per event as it happens, until Ctrl-C. --json: one object per line,
{time, timeMs, kind, containerId, imageId, exitCode, exitSignal, count}, kind a word
(image-added, started, exited, restarted, finalized, oom, pids-limit).`,
    async run(c) {
      flags(c.args, {});
      for await (const e of c.client().watch({})) {
        const ev = { ...e, timeMs: Number(e.timeMs), count: Number(e.count) };
        console.log(c.json ? JSON.stringify(eventJson(ev)) : eventLine(ev));
      }
      return 0;
    },
  },
  {
    name: "exec",
    usage:
      "exec [--timeout S] [--stdin FILE] [--capture BYTES] [--env K=V ...] CID NAME [ARG ...]\n" +
      "  exec -it [--env K=V ...] CID NAME [ARG ...]",
    summary: "run the entry point /lib/acon/entrypoint.d/NAME in the container; prints its output",
    help:
      `Everything after NAME is NAME's own arguments (no -- needed; -- is still accepted before or
after NAME). NAME must be a public entry point: ${ENTRYPOINT_RULE}.
  --timeout S      seconds it may run (default 30)
  --stdin FILE     its standard input
  --capture BYTES  how much of each output is kept (default 128 KiB)
  --env K=V, -e    its environment (repeatable)
  -it              (acond in interactive mode) on a pty of its own, in a raw terminal session
--json: {stdout, stderr}.`,
    async run(c) {
      if (isInteractiveExec(c.args)) return await execInteractive(c);
      const split = splitExecArgs(c.args);
      const { values } = flags(split.head, {
        timeout: { type: "string" },
        stdin: { type: "string" },
        capture: { type: "string" },
        env: { type: "string", multiple: true, short: "e" },
      });
      if (!split.id || !split.name) throw new UsageError("exec needs CID NAME");
      if (!isPublicEntrypoint(split.name)) {
        throw new UsageError(`"${split.name}" is not an entry point name. ${ENTRYPOINT_RULE}`);
      }
      let r;
      try {
        r = await c.client().exec({
          containerId: cid(split.id),
          command: split.name,
          arguments: split.args,
          envs: values.env ?? [],
          timeout: BigInt(int("--timeout", values.timeout, 30)),
          stdin: values.stdin ? await Deno.readFile(values.stdin) : new Uint8Array(),
          captureSize: BigInt(int("--capture", values.capture, 0)),
        });
      } catch (e) {
        if (
          e instanceof ConnectError &&
          /No such file|not found|ENOENT|os error 2\b/i.test(e.rawMessage)
        ) {
          throw new Error(
            `${e.rawMessage}: the image has no /lib/acon/entrypoint.d/${split.name}. ${ENTRYPOINT_RULE}`,
          );
        }
        throw e;
      }
      if (c.json) {
        const dec = new TextDecoder();
        printJson({ stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) });
      } else {
        await Deno.stdout.write(r.stdout);
        await Deno.stderr.write(r.stderr);
      }
      return 0;
    },
  },
];
