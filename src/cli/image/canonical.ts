/**
 * Canonical JSON for manifests, exactly as `jq -jcS .` (jq 1.6, Debian's) writes it: object keys
 * sorted by code point, compact, no trailing newline; strings with `"`, `\`, control characters
 * and DEL escaped (`\b \t \n \f \r`, else `\u00XX`) and everything else as UTF-8; numbers as
 * doubles in jq's shortest form (`1.0` → `1`, `1e-5` → `1e-05`, `1e17` → `1e+17`, overflow →
 * ±1.7976931348623157e+308). A key that appears twice keeps its last value, as in jq. A lone
 * surrogate (`"\ud800"`), which jq refuses, is refused.
 *
 * goCanonical is what ACON's aconcli signed (Go's encoding/json over interface{}): the same order,
 * but `<`, `>`, `&`, U+2028 and U+2029 escaped, DEL raw, and Go's float formatting. Used only to
 * read aconcli repositories (import-aconcli). Pure.
 */

export class CanonicalError extends Error {}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Manifest bytes as text: UTF-8 (no byte-order mark), or CanonicalError. */
export function utf8(bytes: Uint8Array): string {
  try {
    const t = fatalUtf8.decode(bytes);
    if (t.startsWith("\ufeff")) throw new CanonicalError("starts with a byte-order mark");
    return t;
  } catch (e) {
    if (e instanceof CanonicalError) throw e;
    throw new CanonicalError("not valid UTF-8");
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CanonicalError(`not valid JSON: ${(e as Error).message}`);
  }
}

/** Orders UTF-16 code units so that comparing them compares code points (surrogates last). */
function unitRank(u: number): number {
  if (u >= 0xd800 && u <= 0xdfff) return u + 0x2000;
  if (u >= 0xe000) return u - 0x800;
  return u;
}

/** Code-point order (= UTF-8 byte order, as jq's memcmp of keys). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x !== y) return unitRank(x) - unitRank(y);
  }
  return a.length - b.length;
}

function hex4(c: number): string {
  return `\\u${c.toString(16).padStart(4, "0")}`;
}

/**
 * jq's escape of code unit `c`. A switch: the jq property test once failed (a few runs in ten)
 * on keys holding U+0000 or U+0022 while this was a lookup in an object with number keys; the
 * failure has not been reproduced since (tests/unit/cli/image/canonical_test.ts, escaped keys).
 */
function jqEscape(c: number): string {
  switch (c) {
    case 0x08:
      return "\\b";
    case 0x09:
      return "\\t";
    case 0x0a:
      return "\\n";
    case 0x0c:
      return "\\f";
    case 0x0d:
      return "\\r";
    case 0x22:
      return '\\"';
    case 0x5c:
      return "\\\\";
    default:
      return hex4(c);
  }
}

function checkWellFormed(s: string): void {
  if (!s.isWellFormed()) {
    throw new CanonicalError(`string ${JSON.stringify(s.slice(0, 40))} has a lone surrogate`);
  }
}

function jqString(s: string): string {
  checkWellFormed(s);
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c && c !== 0x7f) continue;
    out += s.slice(from, i) + jqEscape(c);
    from = i + 1;
  }
  return out + s.slice(from) + '"';
}

/** The shortest digits of |x| (x finite, non-zero) and the decimal point's position. */
function shortestDigits(x: number): { digits: string; decpt: number } {
  const [mant, exp] = Math.abs(x).toExponential().split("e");
  return { digits: mant.replace(".", ""), decpt: Number(exp) + 1 };
}

/** A number as jq 1.6 prints it (jv_dump_term → jvp_dtoa_fmt). */
export function jqNumber(x: number): string {
  if (Number.isNaN(x)) return "null";
  if (x === Infinity) x = Number.MAX_VALUE;
  if (x === -Infinity) x = -Number.MAX_VALUE;
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const sign = x < 0 ? "-" : "";
  const { digits, decpt } = shortestDigits(x);
  const n = digits.length;
  if (decpt <= -4 || decpt > n + 15) {
    const e = decpt - 1;
    const mant = n > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${mant}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
  if (decpt >= n) return `${sign}${digits}${"0".repeat(decpt - n)}`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

interface Style {
  string(s: string): string;
  number(x: number): string;
}

function write(v: unknown, style: Style): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
      return style.number(v);
    case "string":
      return style.string(v);
  }
  if (Array.isArray(v)) return `[${v.map((x) => write(x, style)).join(",")}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort(compareCodePoints);
  return `{${keys.map((k) => `${style.string(k)}:${write(o[k], style)}`).join(",")}}`;
}

const JQ: Style = { string: jqString, number: jqNumber };

/** `jq -jcS .` of JSON text. Throws CanonicalError when the text is not JSON jq accepts. */
export function canonicalize(text: string): string {
  return write(parse(text), JQ);
}

/** `jq -jcS .` of a JSON value (a manifest built in memory). */
export function canonicalOf(value: unknown): string {
  return write(value, JQ);
}

/** Whether the text is exactly its canonical form (false when it is not JSON at all). */
export function isCanonical(text: string): boolean {
  try {
    return canonicalize(text) === text;
  } catch {
    return false;
  }
}

// --- Go's encoding/json (aconcli) ---

function goString(s: string): string {
  checkWellFormed(s);
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      out += hex4(c);
    } else out += ch;
  }
  return out + '"';
}

/** strconv.FormatFloat(x, 'f' or 'e', -1, 64) as encoding/json chooses (exponent < -6 or ≥ 21). */
function goNumber(x: number): string {
  if (!Number.isFinite(x)) throw new CanonicalError(`number ${x} is out of range`);
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const abs = Math.abs(x);
  const sign = x < 0 ? "-" : "";
  if (abs < 1e-6 || abs >= 1e21) {
    const { digits, decpt } = shortestDigits(x);
    const e = decpt - 1;
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    // Go writes at least two exponent digits, then encoding/json trims "e-07" to "e-7".
    return `${sign}${mant}e${e < 0 ? "-" : "+"}${Math.abs(e)}`;
  }
  const { digits, decpt } = shortestDigits(x);
  if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** What aconcli signed: Go's json.Marshal of the manifest unmarshalled into interface{}. */
export function goCanonical(text: string): string {
  return write(parse(text), { string: goString, number: goNumber });
}
