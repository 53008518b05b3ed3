/**
 * What container Start requires of a manifest beyond its format (manifest.ts), in one place:
 * AddManifest refuses a manifest that no Start could run, before anything is measured, so an
 * image in RTMR3 can always start (given its layers). The limits are the shim's (its ABI,
 * sys/abi.ts, checked against the library by tests/unit/sys/abi_test.ts). Pure.
 */
import { invalid, MSG } from "../errors.ts";
import { MAX_ARGS, MAX_ENV, MAX_MANIFEST_UIDS } from "../sys/abi.ts";
import { ENV_MSG, envRulesProblem, parseEnvRules } from "./env_rules.ts";
import type { Manifest } from "../state.ts";

export { MAX_ARGS, MAX_ENV };
/** Most `uids` a manifest maps: the shim's users less the container root. */
export const MAX_UIDS = MAX_MANIFEST_UIDS;
/** The kernel's default overflow uid (/proc/sys/kernel/overflowuid). */
export const DEFAULT_OVERFLOW_UID = 65534;

function shown(s: string): string {
  return JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);
}

/** The entrypoint Start executes: argv[0] and its arguments, within the shim's limit. */
function entrypointProblem(entrypoint: string[]): string | null {
  if (entrypoint.length === 0) {
    return `${MSG.badEntrypoint}: entrypoint must not be empty (Start runs it)`;
  }
  if (entrypoint[0] === "") return `${MSG.badEntrypoint}: entrypoint[0] must not be empty`;
  if (entrypoint.length > MAX_ARGS) {
    return `${MSG.badEntrypoint}: entrypoint has ${entrypoint.length} entries (at most ${MAX_ARGS})`;
  }
  return null;
}

/**
 * The env rules Start applies (env_rules.ts), and the shim's limit: the variables that get a
 * value no caller can unset are always passed, so there must be at most MAX_ENV of them.
 */
function envProblem(env: string[]): string | null {
  const problem = envRulesProblem(env);
  if (problem !== null) {
    const [i, why] = problem;
    return `${ENV_MSG.manifest} env[${i}] ${shown(String(env[i]))} ${why}`;
  }
  let always = 0;
  for (const rule of parseEnvRules(env).values()) if (rule.first && !rule.unset) always++;
  if (always > MAX_ENV) {
    return `${ENV_MSG.manifest} env gives ${always} variables a value that cannot be unset ` +
      `(at most ${MAX_ENV} are passed)`;
  }
  return null;
}

/** The uids Start maps (container/ids.ts validUids): distinct, 1..2^32-2, not the overflow uid. */
function uidsProblems(uids: number[], overflowUid: number): string[] {
  if (uids.length > MAX_UIDS) {
    return [`Invalid manifest: uids has ${uids.length} entries (at most ${MAX_UIDS})`];
  }
  const out: string[] = [];
  uids.forEach((u, i) => {
    if (u === overflowUid) {
      out.push(`Invalid manifest: uids[${i}] must not be the overflow uid ${overflowUid}`);
    }
  });
  return out;
}

/**
 * Why Start would refuse every run of a manifest with these fields, in the order checkStartable
 * checks them; a field left out (its format was wrong) is not checked.
 */
export function startProblems(
  m: Partial<Pick<Manifest, "entrypoint" | "env" | "uids">>,
  overflowUid = DEFAULT_OVERFLOW_UID,
): string[] {
  const out: string[] = [];
  const ep = m.entrypoint && entrypointProblem(m.entrypoint);
  if (ep) out.push(ep);
  const env = m.env && envProblem(m.env);
  if (env) out.push(env);
  if (m.uids) out.push(...uidsProblems(m.uids, overflowUid));
  return out;
}

/** Throws InvalidArgument, naming the field, when Start would refuse every run of `m`. */
export function checkStartable(m: Manifest, overflowUid = DEFAULT_OVERFLOW_UID): void {
  const problems = startProblems(m, overflowUid);
  if (problems.length > 0) throw invalid(problems[0]);
}
