/**
 * scripts/stress: the suite that keeps proving issue 10 against the real dist/acond --dev (as
 * root). Usage: scripts/stress [--reduced] [SECTION|CHECK ...]
 *   sections: inputs (hostile inputs), load, faults, containers (hostile containers)
 *   checks:   any property or fault by name (see --list)
 * Knobs (environment): STRESS_SEED, STRESS_INPUTS, STRESS_CLIENTS, STRESS_RPCS, STRESS_HANG_MS,
 * STRESS_ONLY (comma-separated checks), STRESS_INDEX (replay one input of each property),
 * STRESS_VERBOSE. Prints the summary table; exits 1 when any check failed.
 */
import { inputCounts, runInputs } from "./run_inputs.ts";
import { PROPERTIES } from "./inputs.ts";
import { LOAD_CHECKS, runLoad } from "./load.ts";
import { FAULTS, runFaults } from "./faults.ts";
import { HOSTILE, runHostile } from "./hostile.ts";
import { Tally } from "./tally.ts";
import { abandonAll } from "./world.ts";

/**
 * The reduced run inside ./scripts/test (about a minute): only checks that pass on today's code.
 * Checks that find open issue-10 defects stay runnable by name until their fix lands (README).
 */
export const REDUCED = {
  /** A fixed seed unless STRESS_SEED says otherwise: the step in ./scripts/test is repeatable. */
  seed: 10,
  inputs: 800,
  clients: 16,
  rpcs: 40,
  checks: [
    "manifest",
    "forged",
    "policy",
    "json-body",
    "proto-body",
    "grpc-body",
    "rest-body",
    "env",
    "tar",
    "upload",
    "exec",
    "kill-restart",
    "exec-pty",
    "ipc",
    "load-fds",
    "load-protocols",
    "kill9-addmanifest",
    "kill9-start",
    "enospc-manifest",
    "enospc-layer",
    "crash-loop",
    "restart-race",
    "stop-all",
    "flood",
  ],
};

const SECTIONS: Record<string, string[]> = {
  inputs: PROPERTIES.map((p) => p.name),
  load: LOAD_CHECKS,
  faults: FAULTS.map((f) => f.name),
  containers: HOSTILE.map((h) => h.name),
};
const ALL = Object.values(SECTIONS).flat();

function num(name: string, dflt: number): number {
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v}: expected a number`);
  return n;
}

export interface RunParams {
  seed: number;
  inputs: number;
  clients: number;
  rpcs: number;
  checks: string[];
  index: number | null;
  fullSweep: boolean;
}

export function paramsFrom(args: string[]): RunParams {
  const reduced = args.includes("--reduced") || Deno.env.get("STRESS_REDUCED") === "1";
  const names = args.filter((a) => !a.startsWith("--"));
  let checks: string[] = [];
  for (const n of names) {
    if (SECTIONS[n]) checks.push(...SECTIONS[n]);
    else if (ALL.includes(n)) checks.push(n);
    else throw new Error(`unknown section or check "${n}" (scripts/stress --list)`);
  }
  const only = Deno.env.get("STRESS_ONLY");
  if (only) checks.push(...only.split(",").map((s) => s.trim()).filter(Boolean));
  for (const c of checks) if (!ALL.includes(c)) throw new Error(`unknown check "${c}"`);
  if (!checks.length) checks = reduced ? REDUCED.checks : ALL;
  const seed = num("STRESS_SEED", reduced ? REDUCED.seed : Math.floor(Math.random() * 2 ** 31));
  const index = Deno.env.get("STRESS_INDEX");
  return {
    seed,
    inputs: num("STRESS_INPUTS", reduced ? REDUCED.inputs : 10000),
    clients: num("STRESS_CLIENTS", reduced ? REDUCED.clients : 64),
    rpcs: num("STRESS_RPCS", reduced ? REDUCED.rpcs : 10000),
    checks: [...new Set(checks)],
    index: index ? Number(index) : null,
    fullSweep: !reduced,
  };
}

export async function runStress(p: RunParams): Promise<Tally> {
  const t = new Tally();
  const inputs = p.checks.filter((c) => SECTIONS.inputs.includes(c));
  if (inputs.length) {
    const counts = inputCounts({ ...p, only: inputs });
    console.error(`inputs: ${counts.map(([x, n]) => `${x.name} ${n}`).join(", ")}`);
    await runInputs(t, { ...p, only: inputs }, counts);
  }
  const load = p.checks.filter((c) => LOAD_CHECKS.includes(c));
  if (load.length) {
    await runLoad(t, { seed: p.seed, clients: p.clients, rpcs: p.rpcs, checks: load });
  }
  const faults = p.checks.filter((c) => SECTIONS.faults.includes(c));
  if (faults.length) await runFaults(t, p.seed, faults);
  const hostile = p.checks.filter((c) => SECTIONS.containers.includes(c));
  if (hostile.length) await runHostile(t, p.seed, hostile);
  return t;
}

if (import.meta.main) {
  if (Deno.args.includes("--list")) {
    for (const [s, cs] of Object.entries(SECTIONS)) console.log(`${s}: ${cs.join(" ")}`);
    console.log(`reduced run: ${REDUCED.checks.join(" ")}`);
    Deno.exit(0);
  }
  if (Deno.uid() !== 0) {
    console.error("scripts/stress runs the dev daemon's containers: run it as root");
    Deno.exit(2);
  }
  // Interrupted: no daemon, container, mount or cgroup may outlive the suite.
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, async () => {
      console.error(`stress: ${sig}: killing the daemons it started and removing their roots`);
      await abandonAll();
      Deno.exit(130);
    });
  }
  const p = paramsFrom(Deno.args);
  const t = await runStress(p);
  console.log(
    t.render(
      p.seed,
      `inputs ${p.inputs}, clients ${p.clients} × rpcs ${p.rpcs}; checks: ${p.checks.join(" ")}`,
    ),
  );
  Deno.exit(t.failed ? 1 : 0);
}
