/**
 * Requests shaped as ACON's aconcli sends them (aconcli/service/aconclient_http.go at intel/ACON's
 * last release), and answers decoded as it decodes them, for tests of acond's REST API:
 * - multipart bodies as Go's mime/multipart Writer writes them: a 60-hex-digit random boundary,
 *   file parts (CreateFormFile: name, filename, Content-Type application/octet-stream) and plain
 *   fields (WriteField), CRLF framing, the closing delimiter and a CRLF;
 * - Go's encoding/json decoding into its structs: fields matched by tag, exactly or else
 *   case-insensitively, other keys ignored, byte slices from arrays of numbers.
 * Written from the Go standard library's documented behaviour; no aconcli code.
 */

export type GoPart = { name: string; filename?: string; value: Uint8Array | string };

const enc = new TextEncoder();

/** Go's escapeQuotes for Content-Disposition parameters. */
const q = (s: string) => s.replaceAll("\\", "\\\\").replaceAll('"', '\\"');

/** A body and Content-Type as Go's multipart.Writer produces them. */
export function goMultipart(
  parts: GoPart[],
): { body: Uint8Array<ArrayBuffer>; contentType: string } {
  const boundary = Array.from(crypto.getRandomValues(new Uint8Array(30)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const chunks: Uint8Array[] = [];
  parts.forEach((p, i) => {
    let head = `${i === 0 ? "" : "\r\n"}--${boundary}\r\n` +
      `Content-Disposition: form-data; name="${q(p.name)}"`;
    if (p.filename !== undefined) {
      head += `; filename="${q(p.filename)}"\r\nContent-Type: application/octet-stream`;
    }
    chunks.push(enc.encode(`${head}\r\n\r\n`));
    chunks.push(typeof p.value === "string" ? enc.encode(p.value) : p.value);
  });
  chunks.push(enc.encode(`${parts.length ? "\r\n" : ""}--${boundary}--\r\n`));
  const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) (body.set(c, at), at += c.length);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Go's url.Values.Encode: keys sorted, query-escaped. */
export function goValues(v: Record<string, string>): string {
  return Object.keys(v).sort().map((k) =>
    `${encodeURIComponent(k)}=${encodeURIComponent(v[k])}`.replaceAll("%20", "+")
  ).join("&");
}

/** The headers Go's net/http client adds to every request. */
export const GO_HEADERS = { "user-agent": "Go-http-client/1.1", "accept-encoding": "gzip" };

/** The value of the key Go's decoder would pick for `tag`: exact, else case-insensitive. */
export function goField(obj: Record<string, unknown>, tag: string): unknown {
  if (tag in obj) return obj[tag];
  const k = Object.keys(obj).find((k) => k.toLowerCase() === tag.toLowerCase());
  return k === undefined ? undefined : obj[k];
}

/** A Go []byte decoded from JSON (an array of numbers 0..255, or null → empty). */
export function goBytes(v: unknown): Uint8Array {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (!Array.isArray(v) || !v.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)) {
    throw new Error(`Go cannot decode ${JSON.stringify(v).slice(0, 80)} into []byte here`);
  }
  return Uint8Array.from(v);
}

/** A Go string field (absent → ""). */
export function goString(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new Error(`Go cannot decode ${JSON.stringify(v)} into string`);
  return v;
}

/** A Go unsigned or signed integer field (absent → 0). */
export function goInt(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (!Number.isInteger(v)) throw new Error(`Go cannot decode ${JSON.stringify(v)} into an int`);
  return v as number;
}

/** A Go []string field. */
export function goStrings(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`Go cannot decode ${JSON.stringify(v)} into []string`);
  return v.map(goString);
}
