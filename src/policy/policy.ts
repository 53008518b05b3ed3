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

  // A rule can only match images in one bucket: same alg and manifest digest (digest rules), or
  // same alg and signer (`*` and alias rules). Looking candidates up there keeps this linear in
  // rules + matches; comparing every rule with every image was images² × rules (seconds of PID 1
  // time for a few hundred images with large `accepts` lists).
  const byDigest = bucketsOf(vertices, (v) => `${v.alg}/${v.manifestDigest}`);
  const bySigner = bucketsOf(vertices, (v) => `${v.alg}/${v.signerDigest}`);
  const candidates = (r: ParsedRule) =>
    (r.target.kind === "digest"
      ? byDigest.get(`${r.alg}/${r.target.digest}`)
      : bySigner.get(`${r.alg}/${r.signer}`)) ?? [];

  // Computed even when nobody rejects, so a rule that reads a malformed self alias is reported the
  // same way whatever the flags are.
  const edges = vertices.map((_, from) => {
    // Every self alias an alias rule of `from` would read is parsed first, in vertex order, so a
    // malformed one is reported whatever the position of the rule that reads it.
    const readers = rules[from].filter((r) => r.target.kind === "alias").flatMap(candidates);
    for (const to of [...new Set(readers)].sort((a, b) => a - b)) if (to !== from) aliasesOf(to);
    const out = new Set<number>();
    for (const r of rules[from]) {
      for (const to of candidates(r)) {
        if (to !== from && matches(r, vertices[to], () => aliasesOf(to))) out.add(to);
      }
    }
    return [...out];
  });

  // Vertices of one strongly connected component reach the same set: one search per component
  // (a forward and a backward search from its first rejecting vertex), not one per rejecting
  // vertex, which was images³ for a pod of images that all accept each other.
  const reverse = vertices.map((): number[] => []);
  edges.forEach((outs, from) => outs.forEach((to) => reverse[to].push(from)));
  const reachOf = new Map<number, Set<number>>();
  const failures: string[] = [];
  let failed = 0;
  vertices.forEach((rejecting, from) => {
    if (!rejecting.rejectUnaccepted) return;
    let reached = reachOf.get(from);
    if (reached === undefined) {
      const forward = reachableFrom(from, edges);
      const backward = reachableFrom(from, reverse);
      for (const v of forward) if (backward.has(v)) reachOf.set(v, forward);
      reached = forward;
    }
    vertices.forEach((target, to) => {
      if (reached.has(to)) return;
      failed++;
      if (failures.length < 3) {
        failures.push(
          `image ${idOf(rejecting)} (rejectUnaccepted) does not accept image ${
            idOf(target)
          }, directly or through the images it accepts`,
        );
      }
    });
  });
  if (failed === 0) return { accepted: true };
  const shown = failures.join("; ");
  const more = failed > 3 ? `; and ${failed - 3} more` : "";
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

/** Vertex indexes (ascending) grouped by key. */
function bucketsOf(
  vertices: PolicyImage[],
  key: (v: PolicyImage) => string,
): Map<string, number[]> {
  const m = new Map<string, number[]>();
  vertices.forEach((v, i) => {
    const list = m.get(key(v));
    if (list) list.push(i);
    else m.set(key(v), [i]);
  });
  return m;
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
