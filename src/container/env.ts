/**
 * Environment sanitisation for Start, as ACON's Image.md ("Environment variables", examples 1-6)
 * documents it (ACON's code deviates: behaviour file §7.6, §11.1):
 *   `K=V`  K may be set to V;  `K=`  K may be unset;  `K`  K may be unset or set to anything.
 *   Rules are OR'ed. The default of K is its FIRST assignment (`K=...` rule): a value, or unset
 *   when that assignment is `K=`; with no assignment at all (only `K`) K stays unset (ex. 4, 5).
 *   A request `K=` asks to unset K, allowed when some rule lets K be unset (ex. 6).
 *   `=x` (no name) is invalid in both the manifest and the request; a bare `K` only in a manifest.
 * The manifest's rules are parsed by image/env_rules.ts (AddManifest has checked them). Pure.
 */
import { AcondError } from "../errors.ts";
import { ENV_MSG, parseEnvRules } from "../image/env_rules.ts";

export { ENV_MSG };

function fail(msg: string): AcondError {
  return new AcondError("invalid_argument", msg);
}

/** The environment to exec with (`K=V` strings): request entries in order, then defaults. */
export function sanitizeEnv(rules: string[], request: string[]): string[] {
  const table = parseEnvRules(rules);
  const set = new Map<string, string | null>(); // null: explicitly unset
  for (const entry of request) {
    const eq = entry.indexOf("=");
    if (eq <= 0 || entry.includes("\0")) throw fail(ENV_MSG.request);
    const key = entry.slice(0, eq);
    if (set.has(key)) throw fail(ENV_MSG.request);
    const value = entry.slice(eq + 1);
    const rule = table.get(key);
    const ok = rule !== undefined &&
      (value === "" ? rule.unset : rule.any || rule.values.has(value));
    if (!ok) throw fail(ENV_MSG.notAllowed(entry));
    set.set(key, value === "" ? null : value);
  }
  const out: string[] = [];
  for (const [k, v] of set) if (v !== null) out.push(`${k}=${v}`);
  for (const [k, rule] of table) {
    if (!set.has(k) && rule.first) out.push(`${k}=${rule.first}`);
  }
  return out;
}
