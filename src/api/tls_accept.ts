/**
 * TLS terminated in-process on an accepted connection, for listeners `Deno.listenTls` cannot
 * make (vsock: Deno's TLS server is TCP only and has no server-side upgrade of an accepted
 * socket). The runtime's node:tls runs over the connection's bytes (api/byteconn.ts); what it
 * decrypts goes to the same engines as a TCP TLS session's (api/conn_limits.ts): ALPN h2 to
 * node:http2, http/1.1 through the bridge to Deno's engine. Same certificate (the attested one,
 * attest/ratls/), TLS 1.2+, ALPN h2 and http/1.1 as the TCP listener.
 */
import tls from "node:tls";
import { type ByteConn, duplexOf, StreamConn } from "./byteconn.ts";

/** The certificate and key (PEM) a listener serves. */
export interface TlsCert {
  certPem: string;
  keyPem: string;
}

export interface TlsSession {
  conn: ByteConn;
  /** The protocol the client and acond agreed on; null: the client offered none. */
  alpn: string | null;
}

/**
 * The TLS server side of `conn`, once its handshake is done. Rejects when the handshake fails
 * or `signal` aborts first (the connection's header deadline: a silent client is cut); `conn`
 * is closed then.
 */
export function acceptTls(
  conn: ByteConn,
  cert: TlsCert,
  signal: AbortSignal,
): Promise<TlsSession> {
  const s = new tls.TLSSocket(duplexOf(conn, new Uint8Array(0)), {
    isServer: true,
    cert: cert.certPem,
    key: cert.keyPem,
    ALPNProtocols: ["h2", "http/1.1"],
    minVersion: "TLSv1.2",
  });
  // Errors after the handshake reach the session's reader (StreamConn); none may go unheard.
  s.on("error", () => {});
  return new Promise<TlsSession>((ok, fail) => {
    const failed = (e: Error) => {
      signal.removeEventListener("abort", cut);
      s.destroy();
      fail(e);
    };
    const cut = () => failed(new Error("TLS handshake not done within the header deadline"));
    if (signal.aborted) return cut();
    signal.addEventListener("abort", cut, { once: true });
    s.once("secure", () => {
      signal.removeEventListener("abort", cut);
      const alpn = typeof s.alpnProtocol === "string" ? s.alpnProtocol : null;
      ok({ conn: new StreamConn(s), alpn });
    });
    s.once("error", (e: Error) => failed(new Error(`TLS handshake: ${e.message}`)));
    s.once("close", () => failed(new Error("the client left during the TLS handshake")));
  });
}
