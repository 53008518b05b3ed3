/** aconctl container and power commands. */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { type Command, printJson, UsageError } from "./command.ts";
import { Event_Kind, EventSchema, InspectResponseSchema } from "../gen/acon_pb.ts";
import { execInteractive, isInteractiveExec } from "./attach.ts";

function cid(s: string | undefined): number {
  const n = Number(s);
  if (!s || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new UsageError(`expected a container id, got "${s ?? ""}"`);
  }
  return n;
}

function seconds(s: string | undefined, dflt: number): bigint {
  if (s === undefined) return BigInt(dflt);
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`expected seconds, got "${s}"`);
  return BigInt(n);
}

const STATE_NAMES: Record<number, string> = {
  82: "running",
  83: "sleeping",
  68: "disk-sleep",
  84: "stopped",
  90: "zombie",
};

export const containerCommands: Command[] = [
  {
    name: "start",
    usage: "start IMAGE_ID [--env K=V ...]",
    summary: "start a container; prints its id",
    async run(c) {
      const { values, positionals } = parseArgs({
        args: c.args,
        options: { env: { type: "string", multiple: true } },
        allowPositionals: true,
      });
      if (!positionals[0]) throw new UsageError("start needs IMAGE_ID");
      const r = await c.client().start({ imageId: positionals[0], envs: values.env ?? [] });
      if (c.json) printJson({ containerId: r.containerId });
      else console.log(r.containerId);
      return 0;
    },
  },
  {
    name: "restart",
    usage: "restart CID [--timeout S]",
    summary: "restart a container (stops it first with its manifest's first signal)",
    async run(c) {
      const { values, positionals } = parseArgs({
        args: c.args,
        options: { timeout: { type: "string" } },
        allowPositionals: true,
      });
      await c.client().restart({
        containerId: cid(positionals[0]),
        timeout: seconds(values.timeout, 30),
      });
      return 0;
    },
  },
  {
    name: "exec",
    usage: "exec CID COMMAND [ARG ...] [--timeout S] [--stdin FILE] [--capture BYTES]\n" +
      "  exec -it [--env K=V ...] CID COMMAND [ARG ...]",
    summary: "run /lib/acon/entrypoint.d/COMMAND in the container; prints its output. With -it " +
      "(interactive mode only): on a pty of its own, in a raw terminal session like attach",
    async run(c) {
      if (isInteractiveExec(c.args)) return await execInteractive(c);
      const { values, positionals } = parseArgs({
        args: c.args,
        options: {
          timeout: { type: "string" },
          stdin: { type: "string" },
          capture: { type: "string" },
          env: { type: "string", multiple: true },
        },
        allowPositionals: true,
      });
      const [id, command, ...args] = positionals;
      if (!command) throw new UsageError("exec needs CID COMMAND");
      const r = await c.client().exec({
        containerId: cid(id),
        command,
        arguments: args,
        envs: values.env ?? [],
        timeout: seconds(values.timeout, 30),
        stdin: values.stdin ? await Deno.readFile(values.stdin) : new Uint8Array(),
        captureSize: values.capture ? BigInt(values.capture) : 0n,
      });
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
  {
    name: "kill",
    usage: "kill CID SIGNAL",
    summary: "send a signal the manifest allows (negative: the process group)",
    async run(c) {
      const [id, sig] = c.args;
      const n = Number(sig);
      if (!Number.isInteger(n)) throw new UsageError("kill needs CID SIGNAL (a number)");
      await c.client().kill({ containerId: cid(id), signalNum: n });
      return 0;
    },
  },
  {
    name: "inspect",
    usage: "inspect [CID]",
    summary: "list containers (all when CID is omitted or 0)",
    async run(c) {
      const r = await c.client().inspect({ containerId: c.args[0] ? cid(c.args[0]) : 0 });
      if (c.json) {
        printJson(toJson(InspectResponseSchema, r, { alwaysEmitImplicit: true }));
        return 0;
      }
      console.log("ID\tSTATE\tSTATUS\tIMAGE\tEXE");
      for (const i of r.info) {
        const state = i.running ? STATE_NAMES[i.state] ?? String.fromCharCode(i.state) : "exited";
        const status = i.running ? "-" : i.exitSignal ? `signal ${i.wstatus}` : `${i.wstatus}`;
        console.log(`${i.containerId}\t${state}\t${status}\t${i.imageId}\t${i.exePath}`);
        for (const x of i.sessions) {
          console.log(`  session ${i.containerId}/${x.session} pid ${x.pid} ${x.pty} ${x.command}`);
        }
      }
      return 0;
    },
  },
  {
    name: "logs",
    usage: "logs CID [--follow] [--new]",
    summary: "print a container's captured output (its manifest's logFDs)",
    async run(c) {
      const { values, positionals } = parseArgs({
        args: c.args,
        options: { follow: { type: "boolean", short: "f" }, new: { type: "boolean" } },
        allowPositionals: true,
      });
      for await (
        const chunk of c.client().logs({
          containerId: cid(positionals[0]),
          follow: values.follow ?? false,
          fromStart: !values.new,
        })
      ) {
        await (chunk.fd === 2 ? Deno.stderr : Deno.stdout).write(chunk.data);
      }
      return 0;
    },
  },
  {
    name: "watch",
    usage: "watch",
    summary: "stream lifecycle events (one JSON object per line)",
    async run(c) {
      for await (const e of c.client().watch({})) {
        const j = toJson(EventSchema, e) as Record<string, unknown>;
        j.kind = Event_Kind[e.kind];
        console.log(JSON.stringify(j));
      }
      return 0;
    },
  },
  powerCommand("shutdown", "stop every container and power the VM off"),
  powerCommand("reboot", "stop every container and reboot the VM"),
];

/** shutdown / reboot: the same flags, a different RPC. */
function powerCommand(name: "shutdown" | "reboot", summary: string): Command {
  return {
    name,
    usage: `${name} [--grace S]`,
    summary,
    async run(c) {
      const { values } = parseArgs({ args: c.args, options: { grace: { type: "string" } } });
      await c.client()[name]({ graceSeconds: seconds(values.grace, 0) });
      return 0;
    },
  };
}
