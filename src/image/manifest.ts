/**
 * Strict manifest validation (Image.md; behaviour file §4.1, with ACON's TODOs done): exact types,
 * required fields, no unknown fields (except top-level vendor fields starting with `_`), and the
 * semantic checks ACON left out. Every problem is an InvalidArgument naming the field. Pure.
 * parseManifest is the format; acceptManifest, what AddManifest accepts, adds what container
 * Start requires (start_rules.ts), so that no measured image is one that can never start.
 */
import type { HashAlg } from "../digest.ts";
import { invalid } from "../errors.ts";
import { atLeast } from "../digest_boot.ts";
import { fileNameProblem, type LayerRef, parseLayerRef } from "./ids.ts";
import { checkStartable, DEFAULT_OVERFLOW_UID, startProblems } from "./start_rules.ts";
import type { Manifest } from "../state.ts";

export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** overlayfs accepts up to 500 lower layers. */
export const MAX_LAYERS = 500;
const OVERFLOW_UID = DEFAULT_OVERFLOW_UID;
const MAX_SIGNAL = 64;

type Obj = Record<string, unknown>;

/** Manifest text in an error message, bounded: a 1 MiB key must not become a 1 MiB reply. */
function shown(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/**
 * Thrown inside one check once its problem is recorded, to stop that check (never escapes this
 * module): every problem of a manifest is collected, and the first is what AddManifest reports.
 */
const STOP = new (class Stop extends Error {})("stop");

class Field {
  constructor(readonly path: string, readonly problems: string[]) {}
  /** Records the problem and stops the current check. */
  fail(problem: string): never {
    this.note(problem);
    throw STOP;
  }
  /** Records the problem; the check goes on. */
  note(problem: string): void {
    this.problems.push(`Invalid manifest: ${this.path} ${problem}`);
  }
  child(key: string | number): Field {
    return new Field(
      typeof key === "number" ? `${this.path}[${key}]` : `${this.path}.${shown(key)}`,
      this.problems,
    );
  }
}

/** Runs one check; undefined when it failed (its problems are recorded). */
function attempt<T>(check: () => T): T | undefined {
  try {
    return check();
  } catch (e) {
    if (e === STOP) return undefined;
    throw e;
  }
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An object of known fields; each unknown field is a problem (the known ones are still checked). */
function object(f: Field, v: unknown, allowed: readonly string[]): Obj {
  if (!isObj(v)) f.fail(`must be an object, not ${typeName(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) f.note(`has unknown field "${shown(k)}"`);
  }
  return v;
}

/** An object whose keys are data (alias maps): the caller checks each key. */
function map(f: Field, v: unknown): Obj {
  if (!isObj(v)) f.fail(`must be an object, not ${typeName(v)}`);
  return v;
}

function string(f: Field, v: unknown): string {
  if (typeof v !== "string") f.fail(`must be a string, not ${typeName(v)}`);
  if (v.includes("\0")) f.fail("must not contain a NUL character");
  return v;
}

function bool(f: Field, v: unknown): boolean {
  if (typeof v !== "boolean") f.fail(`must be a boolean, not ${typeName(v)}`);
  return v;
}

function integer(f: Field, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    f.fail(`must be an integer, not ${typeName(v) === "a number" ? String(v) : typeName(v)}`);
  }
  if (v < min || v > max) f.fail(`must be between ${min} and ${max}, not ${v}`);
  return v;
}

/** Every item is checked (each bad one is a problem); the array fails if any item did. */
function array<T>(f: Field, v: unknown, item: (f: Field, v: unknown) => T): T[] {
  if (!Array.isArray(v)) f.fail(`must be an array, not ${typeName(v)}`);
  const out: T[] = [];
  let bad = false;
  v.forEach((x, i) => {
    const r = attempt(() => ({ ok: item(f.child(i), x) }));
    if (r) out.push(r.ok);
    else bad = true;
  });
  if (bad) throw STOP;
  return out;
}

function noDuplicates<T>(f: Field, items: T[]): void {
  const seen = new Set<T>();
  items.forEach((x, i) => {
    if (seen.has(x)) f.child(i).note(`duplicates ${JSON.stringify(x)}`);
    seen.add(x);
  });
}

function layerRef(f: Field, v: unknown, minHash: HashAlg): string {
  const s = string(f, v);
  const r: LayerRef | string = parseLayerRef(s);
  if (typeof r === "string") f.fail(`"${shown(s)}": ${r}`);
  if (!atLeast(r.alg, minHash)) {
    f.fail(`uses ${r.alg}, weaker than the minimum ${minHash} (see --min-hash)`);
  }
  return s;
}

function aliasName(f: Field, v: unknown): string {
  const s = string(f, v);
  const p = fileNameProblem(s);
  if (p) f.fail(`(alias name) ${p}`);
  return s;
}

/**
 * The first key that appears twice in one object of (already syntactically valid) JSON text, or
 * null. JSON.parse silently keeps the last value; a signed manifest must mean one thing to every
 * reader, so duplicates are refused (serde refuses them too).
 */
export function duplicateKey(text: string): string | null {
  const stack: { keys: Set<string> | null; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") stack.push({ keys: new Set(), expectKey: true });
    else if (c === "[") stack.push({ keys: null, expectKey: false });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === ",") {
      const top = stack.at(-1);
      if (top?.keys) top.expectKey = true;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack.at(-1);
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    }
  }
  return null;
}

const TOP_FIELDS = [
  "aconSpecVersion",
  "layers",
  "aliases",
  "entrypoint",
  "env",
  "workingDir",
  "uids",
  "logFDs",
  "writableFS",
  "noRestart",
  "signals",
  "maxInstances",
  "policy",
] as const;
const REQUIRED = ["aconSpecVersion", "aliases", "workingDir", "signals", "policy"];

/** The result of checking a manifest's format: every problem, and the fields that passed. */
export interface FormatCheck {
  /** Every problem, in the order of the fields; the manifest is valid when there is none. */
  problems: string[];
  /** The fields whose checks passed (defaults filled in); all of them when there is no problem. */
  fields: Partial<Manifest>;
}

/**
 * Checks manifest text against the format and reports every problem at once. `minHash` applies
 * to every digest the manifest names (layers and content-alias objects).
 */
export function checkManifestFormat(text: string, minHash: HashAlg): FormatCheck {
  const problems: string[] = [];
  const fields: Partial<Manifest> = {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { problems: [`Invalid manifest: not valid JSON: ${(e as Error).message}`], fields };
  }
  const dup = duplicateKey(text);
  if (dup !== null) {
    problems.push(`Invalid manifest: key ${JSON.stringify(shown(dup))} appears twice`);
  }
  const top: Field = new Field("manifest", problems);
  if (!isObj(v)) {
    top.note(`must be a JSON object, not ${typeName(v)}`);
    return { problems, fields };
  }
  for (const k of Object.keys(v)) {
    if (!(TOP_FIELDS as readonly string[]).includes(k) && !k.startsWith("_")) {
      top.note(`has unknown field "${shown(k)}" (vendor fields must start with "_")`);
    }
  }
  for (const k of REQUIRED) if (!(k in v)) top.note(`lacks the required field "${k}"`);
  const f = (k: string) => new Field(k, problems);
  /** A field's check, run only when the field is present (or has a default). */
  const field = <K extends keyof Manifest>(k: K, check: () => Manifest[K]) => {
    const r = attempt(check);
    if (r !== undefined) fields[k] = r;
    return r;
  };

  if ("aconSpecVersion" in v) {
    field("aconSpecVersion", () => {
      const version = array(
        f("aconSpecVersion"),
        v.aconSpecVersion,
        (g, x) => integer(g, x, 0, 0xffffffff),
      );
      if (version.length !== 2) f("aconSpecVersion").fail("must be [major, minor]");
      if (version[0] !== 1) {
        f("aconSpecVersion").fail(`major version ${version[0]} is not supported (1)`);
      }
      return version;
    });
  }

  const layers = field("layers", () => {
    const layers = "layers" in v
      ? array(f("layers"), v.layers, (g, x) => layerRef(g, x, minHash))
      : [];
    if (layers.length > MAX_LAYERS) f("layers").fail(`has more than ${MAX_LAYERS} entries`);
    noDuplicates(f("layers"), layers);
    return layers;
  });

  if ("aliases" in v) {
    field("aliases", () => {
      const al = object(f("aliases"), v.aliases, ["contents", "self"]);
      const contents: Record<string, string[]> = {};
      let bad = false;
      if ("contents" in al) {
        const c = f("aliases.contents");
        const seen = new Set<string>();
        for (const [obj, names] of Object.entries(map(c, al.contents))) {
          const g = c.child(obj);
          const ok = attempt(() => {
            layerRef(g, obj, minHash);
            contents[obj] = array(g, names, aliasName);
            contents[obj].forEach((n, i) => {
              if (seen.has(n)) g.child(i).note(`alias "${n}" is defined twice`);
              seen.add(n);
            });
            return true;
          });
          if (!ok) bad = true;
        }
      }
      const self: Record<string, string[]> = {};
      if ("self" in al) {
        const s = f("aliases.self");
        const seen = new Set<string>();
        for (const [key, names] of Object.entries(map(s, al.self))) {
          if (key !== ".") {
            s.note(`has key "${shown(key)}": only "." (this image) is allowed`);
            continue;
          }
          const ok = attempt(() => {
            self[key] = array(s.child(key), names, aliasName);
            self[key].forEach((n, i) => {
              // A self alias shares its directory with the image directories (named by digests).
              if (/^[0-9a-f]{64,}$/.test(n)) {
                s.child(key).child(i).note("must not look like a digest");
              }
              if (seen.has(n)) s.child(key).child(i).note(`alias "${n}" is defined twice`);
              seen.add(n);
            });
            return true;
          });
          if (!ok) bad = true;
        }
      }
      if (bad) throw STOP;
      return { contents, self };
    });
  }

  field("entrypoint", () => {
    const entrypoint = "entrypoint" in v ? array(f("entrypoint"), v.entrypoint, string) : [];
    if (layers && layers.length > 0 && entrypoint.length === 0) {
      f("entrypoint").fail("must not be empty for an image with layers");
    }
    if (entrypoint.length > 0 && entrypoint[0] === "") {
      f("entrypoint[0]").fail("must not be empty");
    }
    return entrypoint;
  });

  field("env", () => "env" in v ? array(f("env"), v.env, string) : []);
  if ("workingDir" in v) field("workingDir", () => string(f("workingDir"), v.workingDir));

  field("uids", () => {
    const uids = "uids" in v
      ? array(f("uids"), v.uids, (g, x) => {
        const u = integer(g, x, 1, 0xfffffffe);
        if (u === OVERFLOW_UID) g.fail(`must not be the overflow uid ${OVERFLOW_UID}`);
        return u;
      })
      : [];
    noDuplicates(f("uids"), uids);
    return uids;
  });

  field("logFDs", () => {
    const logFDs = "logFDs" in v
      ? array(f("logFDs"), v.logFDs, (g, x) => integer(g, x, 0, 0x7fffffff))
      : [];
    noDuplicates(f("logFDs"), logFDs);
    return logFDs;
  });

  field("writableFS", () => "writableFS" in v ? bool(f("writableFS"), v.writableFS) : false);
  field("noRestart", () => "noRestart" in v ? bool(f("noRestart"), v.noRestart) : false);

  if ("signals" in v) {
    field("signals", () => {
      const signals = array(
        f("signals"),
        v.signals,
        (g, x) => integer(g, x, -MAX_SIGNAL, MAX_SIGNAL),
      );
      // 0 is meaningful only first (the restart signal: "send none").
      signals.forEach((s, i) => {
        if (s === 0 && i > 0) {
          f("signals").child(i).note("must not be 0 (only signals[0] may be 0)");
        }
      });
      noDuplicates(f("signals"), signals);
      return signals;
    });
  }

  field(
    "maxInstances",
    () =>
      "maxInstances" in v
        ? integer(f("maxInstances"), v.maxInstances, 0, Number.MAX_SAFE_INTEGER)
        : 1,
  );

  if ("policy" in v) {
    field("policy", () => {
      const p = object(f("policy"), v.policy, ["accepts", "rejectUnaccepted"]);
      const accepts = attempt(() =>
        "accepts" in p ? array(f("policy.accepts"), p.accepts, string) : []
      );
      const rejectUnaccepted = "rejectUnaccepted" in p
        ? bool(f("policy.rejectUnaccepted"), p.rejectUnaccepted)
        : false;
      if (!accepts) throw STOP;
      return { accepts, rejectUnaccepted };
    });
  }
  return { problems, fields };
}

/**
 * Parses and validates manifest text: InvalidArgument naming the first problem (of all that
 * checkManifestFormat finds). `minHash` applies to every digest the manifest names.
 */
export function parseManifest(text: string, minHash: HashAlg): Manifest {
  const { problems, fields } = checkManifestFormat(text, minHash);
  if (problems.length > 0) throw invalid(problems[0]);
  const m = fields as Manifest;
  return {
    aconSpecVersion: m.aconSpecVersion,
    layers: m.layers,
    aliases: m.aliases,
    entrypoint: m.entrypoint,
    env: m.env,
    workingDir: m.workingDir,
    uids: m.uids,
    logFDs: m.logFDs,
    writableFS: m.writableFS,
    noRestart: m.noRestart,
    signals: m.signals,
    maxInstances: m.maxInstances,
    policy: m.policy,
  };
}

/**
 * What AddManifest accepts: a manifest of the right format (parseManifest) that container Start
 * can run (start_rules.ts checkStartable, with the kernel's `overflowUid`).
 */
export function acceptManifest(
  text: string,
  minHash: HashAlg,
  overflowUid = DEFAULT_OVERFLOW_UID,
): Manifest {
  const m = parseManifest(text, minHash);
  checkStartable(m, overflowUid);
  return m;
}

/**
 * Every reason AddManifest would refuse this manifest text, in the order it checks them (its
 * error is the first): the format's problems, then what Start requires of the fields whose format
 * is right. Empty when AddManifest accepts it (signature and launch policy aside). For clients
 * (aconctl manifest validate).
 */
export function manifestProblems(
  text: string,
  minHash: HashAlg,
  overflowUid = DEFAULT_OVERFLOW_UID,
): string[] {
  const { problems, fields } = checkManifestFormat(text, minHash);
  return [...problems, ...startProblems(fields, overflowUid)];
}
