/**
 * The reduced run of scripts/stress (about a minute; REDUCED in scripts/stress.d/main.ts): only
 * the checks that pass on today's code. The others (open issue-10 defects) run by name:
 * `scripts/stress proto-body`, `scripts/stress faults`, ... (README, "Tests and benchmarks").
 */
import { paramsFrom, runStress } from "../../scripts/stress.d/main.ts";

Deno.test("stress: reduced run (hostile inputs, load, ENOSPC, hostile containers)", async () => {
  const p = paramsFrom(["--reduced"]);
  const t = await runStress(p);
  const table = t.render(
    p.seed,
    `reduced: inputs ${p.inputs}, ${p.clients} clients × ${p.rpcs} RPCs`,
  );
  console.log(table);
  if (t.failed) throw new Error(`stress checks failed:\n${table}`);
});
