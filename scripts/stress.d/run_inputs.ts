/**
 * The hostile-input phase: for each property, `n` values drawn by fast-check from the run's seed,
 * each sent, judged by the property's oracle, then followed by the liveness and consistency
 * oracle. A daemon found dead counts as a crash and is started again on the same root; one that
 * stops answering counts as a hang and is killed and started again, so one defect does not hide
 * the rest.
 */
import fc from "fast-check";
import { type Ctx, PROPERTIES, type Property } from "./inputs.ts";
import { Oracle } from "./oracle.ts";
import type { Tally } from "./tally.ts";
import { cleanupDir, World } from "./world.ts";

export interface InputParams {
  seed: number;
  /** Total inputs, shared by the properties by weight. */
  inputs: number;
  /** Property names to run (null: all). */
  only: string[] | null;
  /** Run only this input index of each property (replaying one failure). */
  index: number | null;
  /** The whole-host sweep for canary files at the end (slow: walks every file). */
  fullSweep: boolean;
}

function nameSeed(seed: number, name: string): number {
  let h = seed | 0;
  for (const ch of name) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h;
}

export function inputCounts(p: InputParams): [Property<never>, number][] {
  const props = PROPERTIES.filter((x) => !p.only || p.only.includes(x.name));
  const total = PROPERTIES.reduce((n, x) => n + x.weight, 0);
  return props.map((x) => [x, Math.max(1, Math.round((p.inputs * x.weight) / total))]);
}

export async function runInputs(t: Tally, p: InputParams, props = inputCounts(p)): Promise<void> {
  if (!props.length) return;
  const victim = await Deno.makeTempDir({ prefix: `acond-stress-victim-${p.seed}-` });
  const w = await World.create();
  const oracle = new Oracle(w, p.seed, victim);
  await oracle.baseline();
  let policy: { w: World; oracle: Oracle; dirty: boolean } | null = null;
  const ctx: Ctx = {
    w,
    seed: p.seed,
    victim,
    async policyWorld(fresh) {
      const pol = policy as { w: World; oracle: Oracle; dirty: boolean } | null;
      if (pol && (fresh || pol.dirty)) {
        await pol.w.stop();
        await cleanupDir(pol.w.dir);
        policy = null;
      }
      if (!policy) {
        const pw = await World.create();
        const o = new Oracle(pw, p.seed, victim);
        await o.baseline();
        policy = { w: pw, oracle: o, dirty: false };
      }
      policy.dirty = fresh;
      return policy.w;
    },
  };
  try {
    for (const [prop, n] of props) {
      const row = t.row(prop.name);
      const values = fc.sample(prop.arb(ctx), { seed: nameSeed(p.seed, prop.name), numRuns: n });
      const known = new Set<string>();
      const t0 = Date.now();
      for (let i = 0; i < values.length; i++) {
        if (p.index !== null && i !== p.index) continue;
        row.inputs++;
        const tag = `#${i}`;
        let v;
        try {
          v = await prop.run(ctx, values[i]);
        } catch (e) {
          v = { unearned: `the input's own calls failed: ${(e as Error).message}` };
        }
        if (v.hang) t.fail(prop.name, "hangs", `${tag} no answer within STRESS_HANG_MS`);
        if (v.unearned) t.fail(prop.name, "unearned", `${tag} ${v.unearned}`);
        if (v.wrong) t.fail(prop.name, "wrong", `${tag} ${v.wrong}`);
        const pol = policy as { w: World; oracle: Oracle } | null;
        const [cw, co] = prop.name === "policy" && pol ? [pol.w, pol.oracle] : [w, oracle];
        await checkAfter(t, prop.name, tag, cw, co, known);
        if (Deno.env.get("STRESS_VERBOSE") && i % 100 === 99) {
          console.error(
            `  ${prop.name}: ${i + 1}/${values.length} (${
              ((Date.now() - t0) / (i + 1)).toFixed(0)
            } ms each)`,
          );
        }
      }
      console.error(
        `inputs: ${prop.name}: ${row.inputs} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    const swept = await oracle.sweep(p.fullSweep);
    for (const s of swept) t.fail("outside-sweep", "consistency", s);
    t.row("outside-sweep").inputs += 1;
  } finally {
    const pol = policy as { w: World; oracle: Oracle } | null;
    if (pol) {
      await pol.w.stop().catch(() => {});
      await cleanupDir(pol.w.dir);
    }
    await w.stop().catch(() => {});
    await cleanupDir(w.dir);
    await Deno.remove(victim, { recursive: true }).catch(() => {});
  }
}

/**
 * Liveness first (dead: a crash, restarted; silent: a hang, killed and restarted), then the
 * consistency oracle; a problem counts once, when it first appears.
 */
export async function checkAfter(
  t: Tally,
  check: string,
  tag: string,
  w: World,
  oracle: Oracle,
  known: Set<string>,
): Promise<void> {
  if (!await w.alive()) {
    const err = w.d.stderr().split("\n").slice(-6).join(" | ");
    t.fail(check, "crashes", `${tag} daemon exited: ${err}`);
    w.crashes++;
    await w.stop().catch(() => {});
    await w.boot();
    oracle.reset();
    return;
  }
  const alive = await oracle.alive();
  if (alive.length) {
    t.fail(check, "hangs", `${tag} after the input: ${alive.join("; ")}`);
    await w.kill9();
    await w.boot();
    oracle.reset();
    return;
  }
  const problems = await oracle.check();
  const fresh = problems.filter((x) => !known.has(x));
  if (fresh.length) t.fail(check, "consistency", `${tag} ${fresh.join("; ")}`);
  known.clear();
  for (const x of problems) known.add(x);
}
