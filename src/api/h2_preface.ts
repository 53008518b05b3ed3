/**
 * Telling an HTTP/2 connection by its first bytes, apart from api/h2.ts so that what decides
 * (api/conn_limits.ts) does not load node:http2: that module is imported on the first HTTP/2
 * connection, not at boot (it costs about 0.1 s natively, far more under emulation).
 */

/** The client preface of an HTTP/2 connection without TLS (RFC 9113 §3.4). */
export const H2_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Whether `bytes` (what arrived first) are, or may still become, the HTTP/2 preface. */
export function prefaceSoFar(bytes: Uint8Array): "h2" | "maybe" | "no" {
  const n = Math.min(bytes.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== H2_PREFACE[i]) return "no";
  return n === H2_PREFACE.length ? "h2" : "maybe";
}
