/**
 * The REST API's inputs, read and checked before any service runs: a body read whole within a
 * bound (a larger one is refused before or as soon as it is exceeded), multipart and urlencoded
 * forms, and ACON's integer query and form fields (actix's extractors: a missing or bad field is a
 * 400). Every failure is a RestInputError whose message says what to send instead.
 */
import { boundaryOf, MultipartError, parseMultipart, type Part } from "./multipart.ts";

/** An input the request got wrong: `status` (400 or 413) and a plain-text message. */
export class RestInputError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "RestInputError";
  }
}

const bad = (message: string) => new RestInputError(400, message);

/** The whole body, at most `max` bytes (413 beyond, without reading further). */
export async function readBody(req: Request, max: number): Promise<Uint8Array> {
  const tooBig = () =>
    new RestInputError(413, `Request body larger than ${max} bytes (the API's request limit)`);
  const cl = req.headers.get("content-length");
  if (cl !== null && Number(cl) > max) {
    await req.body?.cancel().catch(() => {});
    throw tooBig();
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    size += r.value.length;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooBig();
    }
    chunks.push(r.value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) (out.set(c, at), at += c.length);
  return out;
}

/** The parts of a multipart/form-data body of at most `max` bytes. */
export async function readMultipart(req: Request, max: number): Promise<Part[]> {
  let boundary: string;
  try {
    boundary = boundaryOf(req.headers.get("content-type"));
  } catch (e) {
    await req.body?.cancel().catch(() => {});
    throw bad(`Malformed multipart request: ${(e as Error).message}`);
  }
  const body = await readBody(req, max);
  try {
    return parseMultipart(body, boundary);
  } catch (e) {
    if (e instanceof MultipartError) throw bad(`Malformed multipart body: ${e.message}`);
    throw e;
  }
}

/** The bytes of every part named `name`, concatenated (ACON: stdin). */
export function concatParts(parts: Part[], name: string): Uint8Array {
  const mine = parts.filter((p) => p.name === name);
  const out = new Uint8Array(mine.reduce((n, p) => n + p.data.length, 0));
  let at = 0;
  for (const p of mine) (out.set(p.data, at), at += p.data.length);
  return out;
}

/** The last part named `name`, empty when there is none (ACON: manifest, sig, cert). */
export function lastPart(parts: Part[], name: string): Uint8Array {
  return parts.findLast((p) => p.name === name)?.data ?? new Uint8Array(0);
}

/**
 * The non-empty lines of every part named `name` (ACON: env and cmd; a part that is not UTF-8
 * counts as empty, as in ACON).
 */
export function partLines(parts: Part[], name: string): string[] {
  const dec = new TextDecoder("utf-8", { fatal: true });
  return parts.filter((p) => p.name === name).flatMap((p) => {
    try {
      return dec.decode(p.data).split("\n").filter((l) => l !== "");
    } catch {
      return [];
    }
  });
}

/** Largest urlencoded form accepted (kill, login). */
export const MAX_FORM_BYTES = 64 * 1024;

/**
 * An urlencoded form body, whatever its Content-Type says: aconcli's kill sends one without any
 * (ACON's actix would refuse it; an unmodified aconcli must work here).
 */
export async function readForm(req: Request): Promise<URLSearchParams> {
  const type = req.headers.get("content-type");
  if (type !== null && !/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
    await req.body?.cancel().catch(() => {});
    throw bad(`Content-Type is ${type}: send an application/x-www-form-urlencoded form`);
  }
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    return new URLSearchParams(text.decode(await readBody(req, MAX_FORM_BYTES)));
  } catch (e) {
    if (e instanceof RestInputError) throw e;
    throw bad("Malformed form body: not UTF-8");
  }
}

const LIMITS = {
  u32: [0n, 0xffffffffn],
  i32: [-0x80000000n, 0x7fffffffn],
  u64: [0n, 0xffffffffffffffffn],
  i64: [-0x8000000000000000n, 0x7fffffffffffffffn],
} as const;

export type IntKind = keyof typeof LIMITS;

/** A decimal integer of `kind` from a query or form field; `def` when absent (else required). */
export function intField(
  from: URLSearchParams,
  name: string,
  kind: IntKind,
  def?: bigint,
): bigint {
  const v = from.get(name);
  if (v === null) {
    if (def !== undefined) return def;
    throw bad(`Missing field ${name} (a ${kind} integer)`);
  }
  const [lo, hi] = LIMITS[kind];
  if (!/^[+-]?\d{1,20}$/.test(v) || BigInt(v) < lo || BigInt(v) > hi) {
    throw bad(`Bad field ${name}=${v.slice(0, 40)}: expected a ${kind} integer`);
  }
  return BigInt(v);
}

/** A required string field. */
export function stringField(from: URLSearchParams, name: string): string {
  const v = from.get(name);
  if (v === null) throw bad(`Missing field ${name}`);
  return v;
}
