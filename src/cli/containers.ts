/** aconctl container and power commands. */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { type Command, printJson, UsageError, withNumbers } from "./command.ts";
import { Event_Kind, EventSchema, InspectResponseSchema } from "../gen/acon_pb.ts";

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
    name: "inspect",
    usage: "inspect [CID]",
    summary: "list containers (all when CID is omitted or 0)",
    async run(c) {
      const r = await c.client().inspect({ containerId: c.args[0] ? cid(c.args[0]) : 0 });
      if (c.json) {
        const j = withNumbers(
          toJson(InspectResponseSchema, r, { alwaysEmitImplicit: true }),
          r,
        ) as {
          info: Record<string, unknown>[];
        };
        // The state as a word beside its character code.
        for (const [n, i] of r.info.entries()) {
          j.info[n].stateName = i.running
            ? STATE_NAMES[i.state] ?? String.fromCharCode(i.state)
            : "exited";
        }
        printJson(j);
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
    name: "watch",
    usage: "watch",
    summary: "stream lifecycle events (one JSON object per line)",
    async run(c) {
      for await (const e of c.client().watch({})) {
        const j = withNumbers(toJson(EventSchema, e), e) as Record<string, unknown>;
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
