/**
 * Launch policy: the graph rule of ACON's Image.md (behaviour file §5, §11.1), not ACON's pairwise
 * approximation.
 *
 * Vertices are the loaded images plus the incoming one; X→Y is an edge when a rule of X's
 * `policy.accepts` matches Y, and acceptance is transitive (paths). When any vertex has
 * `rejectUnaccepted`, every vertex must be reachable from every such rejecting vertex; with no
 * rejecting vertex everything is accepted.
 *
 * Determinism (fixes ACON's order-dependent result, §11.3 item 15): every rule of every vertex is
 * parsed before anything is evaluated, and all edges are computed over vertices sorted by image
 * id, so errors and reasons do not depend on the order of `loaded` or on the rules' position.
 */
import { type ParsedRule, parseRule, parseSelfAlias, type SelfAlias } from "./rule.ts";

export interface PolicyImage {
  alg: string;
  signerDigest: string;
  manifestDigest: string;
  /** Every alias of every key of `aliases.self` (e.g. "SomeProduct:2"). */
  selfAliases: string[];
  accepts: string[];
  rejectUnaccepted: boolean;
}

interface PolicyDecision {
  accepted: boolean;
  /** Why the image was refused (absent when accepted). */
  reason?: string;
}

/** Throws AcondError("invalid_argument", MSG.policyFormat + ": <detail>") on the first malformed rule. */
export function validateRules(rules: string[]): void {
  for (const rule of rules) parseRule(rule);
}

/** Whether one rule matches `target`; throws on a malformed rule or a malformed self alias it reads. */
export function ruleMatches(rule: string, target: PolicyImage): boolean {
  return matches(parseRule(rule), target, () => selfAliasesOf(target));
}

export function evaluatePolicy(incoming: PolicyImage, loaded: PolicyImage[]): PolicyDecision {
  // The incoming image's rules first: when it is the culprit, the error names its rule.
  validateRules(incoming.accepts);
  const vertices = canonicalVertices([...loaded, incoming]);
  const rules = vertices.map((v) => v.accepts.map(parseRule));
  const aliasCache = new Map<number, SelfAlias[]>();
  const aliasesOf = (i: number) => {
    let a = aliasCache.get(i);
    if (a === undefined) aliasCache.set(i, a = selfAliasesOf(vertices[i]));
    return a;
  };

  // Computed even when nobody rejects, so a rule that reads a malformed self alias is reported the
  // same way whatever the flags are.
  const edges = vertices.map((_, from) =>
    vertices
      .map((_, to) => to)
      .filter((to) =>
        // Every rule is evaluated (no short-circuit), so a malformed self alias is reported
        // whatever the position of the alias rule that reads it.
        to !== from &&
        rules[from].map((r) => matches(r, vertices[to], () => aliasesOf(to))).some(Boolean)
      )
  );

  const failures: string[] = [];
  vertices.forEach((rejecting, from) => {
    if (!rejecting.rejectUnaccepted) return;
    const reached = reachableFrom(from, edges);
    vertices.forEach((target, to) => {
      if (!reached.has(to)) {
        failures.push(
          `image ${idOf(rejecting)} (rejectUnaccepted) does not accept image ${
            idOf(target)
          }, directly or through the images it accepts`,
        );
      }
    });
  });
  if (failures.length === 0) return { accepted: true };
  const shown = failures.slice(0, 3).join("; ");
  const more = failures.length > 3 ? `; and ${failures.length - 3} more` : "";
  return { accepted: false, reason: shown + more };
}

function idOf(image: PolicyImage): string {
  return `${image.alg}/${image.signerDigest}/${image.manifestDigest}`;
}

/**
 * One vertex per image id, sorted by id. Equal ids mean equal manifest bytes and signer, hence an
 * equal policy; without this an image re-submitted next to itself would need to accept itself.
 */
function canonicalVertices(images: PolicyImage[]): PolicyImage[] {
  const byId = new Map<string, PolicyImage>();
  for (const image of images) if (!byId.has(idOf(image))) byId.set(idOf(image), image);
  return [...byId.keys()].sort().map((id) => byId.get(id)!);
}

function selfAliasesOf(image: PolicyImage): SelfAlias[] {
  // All parsed before any comparison so the outcome does not depend on the aliases' order.
  return image.selfAliases.map((a) => parseSelfAlias(a, idOf(image)));
}

function matches(rule: ParsedRule, target: PolicyImage, aliases: () => SelfAlias[]): boolean {
  // Unlike ACON, the algorithm must match: an image id is alg/signer/manifest, and a digest under
  // another algorithm names a different image.
  if (rule.alg !== target.alg) return false;
  if (rule.signer === "*") {
    return rule.target.kind === "digest" && rule.target.digest === target.manifestDigest;
  }
  if (rule.signer !== target.signerDigest) return false;
  switch (rule.target.kind) {
    case "any":
      return true;
    case "digest":
      return rule.target.digest === target.manifestDigest;
    case "alias": {
      const { name, svn } = rule.target;
      return aliases().some((a) => a.name === name && a.svn >= svn);
    }
  }
}

function reachableFrom(start: number, edges: number[][]): Set<number> {
  const seen = new Set([start]);
  const queue = [start];
  while (queue.length > 0) {
    for (const next of edges[queue.pop()!]) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}
