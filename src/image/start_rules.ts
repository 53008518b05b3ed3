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
function checkEntrypoint(entrypoint: string[]): void {
  if (entrypoint.length === 0) {
    throw invalid(`${MSG.badEntrypoint}: entrypoint must not be empty (Start runs it)`);
  }
  if (entrypoint[0] === "") throw invalid(`${MSG.badEntrypoint}: entrypoint[0] must not be empty`);
  if (entrypoint.length > MAX_ARGS) {
    throw invalid(
      `${MSG.badEntrypoint}: entrypoint has ${entrypoint.length} entries (at most ${MAX_ARGS})`,
    );
  }
}

/**
 * The env rules Start applies (env_rules.ts), and the shim's limit: the variables that get a
 * value no caller can unset are always passed, so there must be at most MAX_ENV of them.
 */
function checkEnv(env: string[]): void {
  const problem = envRulesProblem(env);
  if (problem !== null) {
    const [i, why] = problem;
    throw invalid(`${ENV_MSG.manifest} env[${i}] ${shown(String(env[i]))} ${why}`);
  }
  let always = 0;
  for (const rule of parseEnvRules(env).values()) if (rule.first && !rule.unset) always++;
  if (always > MAX_ENV) {
    throw invalid(
      `${ENV_MSG.manifest} env gives ${always} variables a value that cannot be unset ` +
        `(at most ${MAX_ENV} are passed)`,
    );
  }
}

/** The uids Start maps (container/ids.ts validUids): distinct, 1..2^32-2, not the overflow uid. */
function checkUids(uids: number[], overflowUid: number): void {
  if (uids.length > MAX_UIDS) {
    throw invalid(`Invalid manifest: uids has ${uids.length} entries (at most ${MAX_UIDS})`);
  }
  uids.forEach((u, i) => {
    if (u === overflowUid) {
      throw invalid(`Invalid manifest: uids[${i}] must not be the overflow uid ${overflowUid}`);
    }
  });
}

/** Throws InvalidArgument, naming the field, when Start would refuse every run of `m`. */
export function checkStartable(m: Manifest, overflowUid = DEFAULT_OVERFLOW_UID): void {
  checkEntrypoint(m.entrypoint);
  checkEnv(m.env);
  checkUids(m.uids, overflowUid);
}
