/**
 * A manifest's `env` rules, as ACON's Image.md ("Environment variables", examples 1-6) documents
 * them (ACON's code deviates: behaviour file §7.6, §11.1):
 *   `K=V`  K may be set to V;  `K=`  K may be unset;  `K`  K may be unset or set to anything.
 *   Rules are OR'ed. The default of K is its FIRST assignment (`K=...` rule): a value, or unset
 *   when that assignment is `K=`; with no assignment at all (only `K`) K stays unset (ex. 4, 5).
 *   `=x` (no name) is invalid, and so is a rule given twice.
 * AddManifest refuses a manifest whose rules are invalid (image/start_rules.ts); Start applies them
 * to its caller's envs (container/env.ts). Pure: no I/O.
 */
import { AcondError } from "../errors.ts";

export const ENV_MSG = {
  manifest: "Format error of environment array in manifest.",
  request: "Format error of environment array in commandline.",
  notAllowed: (entry: string) => `${entry} is not in environment array.`,
} as const;

export interface EnvRule {
  /** Allowed non-empty values. */
  values: Set<string>;
  /** Any value allowed (a bare rule). */
  any: boolean;
  /** May be unset (a bare rule or `K=`). */
  unset: boolean;
  /** The first assignment: a value, "" for unset, null when K has no assignment. */
  first: string | null;
}

/** The first invalid rule, as [index, why], or null when every rule is valid. */
export function envRulesProblem(rules: readonly unknown[]): [number, string] | null {
  const seen = new Set<string>();
  for (const [i, r] of rules.entries()) {
    if (typeof r !== "string") return [i, "is not a string"];
    if (seen.has(r)) return [i, "repeats an earlier rule"];
    seen.add(r);
    const eq = r.indexOf("=");
    const key = eq < 0 ? r : r.slice(0, eq);
    if (key === "") return [i, "has no variable name"];
    if (key.includes("\0")) return [i, "has a NUL character in its name"];
  }
  return null;
}

/** Parses the manifest rules; throws on a nameless or repeated rule. */
export function parseEnvRules(rules: string[]): Map<string, EnvRule> {
  if (envRulesProblem(rules) !== null) throw new AcondError("invalid_argument", ENV_MSG.manifest);
  const table = new Map<string, EnvRule>();
  for (const r of rules) {
    const eq = r.indexOf("=");
    const key = eq < 0 ? r : r.slice(0, eq);
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
