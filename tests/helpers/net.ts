/** Network helpers for tests that start listeners: a free port, the certificate a TLS port serves. */
import { pem } from "../../src/attest/ratls/cert.ts";

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The certificate (DER) the TLS listener on 127.0.0.1:`port` serves, unchecked. */
export async function servedCertificate(port: number): Promise<Uint8Array> {
  const tls = await import("node:tls");
  return await new Promise((resolve, reject) => {
    const s = tls.connect(
      { host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false },
      () => {
        const raw = s.getPeerCertificate(true).raw;
        s.end();
        resolve(new Uint8Array(raw));
      },
    );
    s.on("error", reject);
  });
}

/** servedCertificate as a PEM file `served.pem` in `dir` (for clients that take a CA file). */
export async function servedCertificateFile(port: number, dir: string): Promise<string> {
  const path = `${dir}/served.pem`;
  await Deno.writeTextFile(path, pem("CERTIFICATE", await servedCertificate(port)));
  return path;
}
