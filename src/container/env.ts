/**
 * Environment sanitisation for Start, as ACON's Image.md ("Environment variables", examples 1-6)
 * documents it (ACON's code deviates: behaviour file §7.6, §11.1):
 *   `K=V`  K may be set to V;  `K=`  K may be unset;  `K`  K may be unset or set to anything.
 *   Rules are OR'ed. The default of K is its FIRST assignment (`K=...` rule): a value, or unset
 *   when that assignment is `K=`; with no assignment at all (only `K`) K stays unset (ex. 4, 5).
 *   A request `K=` asks to unset K, allowed when some rule lets K be unset (ex. 6).
 *   `=x` (no name) is invalid in both the manifest and the request; a bare `K` only in a manifest.
 * Pure: no I/O.
 */
import { AcondError } from "../errors.ts";

export const ENV_MSG = {
  manifest: "Format error of environment array in manifest.",
  request: "Format error of environment array in commandline.",
  notAllowed: (entry: string) => `${entry} is not in environment array.`,
} as const;

interface Rule {
  /** Allowed non-empty values. */
  values: Set<string>;
  /** Any value allowed (a bare rule). */
  any: boolean;
  /** May be unset (a bare rule or `K=`). */
  unset: boolean;
  /** The first assignment: a value, "" for unset, null when K has no assignment. */
  first: string | null;
}

function fail(msg: string): AcondError {
  return new AcondError("invalid_argument", msg);
}

/** Parses the manifest rules; throws on a nameless or repeated rule. */
export function parseEnvRules(rules: string[]): Map<string, Rule> {
  const table = new Map<string, Rule>();
  const seen = new Set<string>();
  for (const r of rules) {
    if (typeof r !== "string" || seen.has(r)) throw fail(ENV_MSG.manifest);
    seen.add(r);
    const eq = r.indexOf("=");
    const key = eq < 0 ? r : r.slice(0, eq);
    if (key === "" || key.includes("\0")) throw fail(ENV_MSG.manifest);
    let rule = table.get(key);
    if (!rule) {
      rule = { values: new Set(), any: false, unset: false, first: null };
      table.set(key, rule);
    }
    if (eq < 0) {
      rule.any = true;
      rule.unset = true;
      continue;
    }
    const value = r.slice(eq + 1);
    if (rule.first === null) rule.first = value;
    if (value === "") rule.unset = true;
    else rule.values.add(value);
  }
  return table;
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
