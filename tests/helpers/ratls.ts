/**
 * Attested TLS certificates made in the test (attest/ratls/): a real one from a sim TEE and an
 * event log of its own, and a forged one whose evidence was made for another key.
 */
import { SimTee } from "../../src/attest/sim.ts";
import { EventLog } from "../../src/attest/eventlog.ts";
import { Mutex } from "../../src/util/mutex.ts";
import { makeTlsIdentity, type TlsIdentity } from "../../src/attest/ratls/identity.ts";
import { buildCertificate, parseCert, pem } from "../../src/attest/ratls/cert.ts";

/** A real identity: a fresh SimTee, an event log in a temp dir (removed again). */
export async function simIdentity(): Promise<{ id: TlsIdentity; tee: SimTee; log: EventLog }> {
  const dir = await Deno.makeTempDir({ prefix: "ratls-" });
  try {
    const tee = new SimTee();
    const log = new EventLog(`${dir}/rtmr3.log`, tee);
    await log.open();
    await log.measure(
      'acond Boot {"version":"0.1.0","tee":"sim","pid1":false,"interactive":false,"debug_console":false,"min_hash":"sha384","tls":true}',
    );
    const id = await makeTlsIdentity({ tee, eventLog: log, lock: new Mutex() });
    return { id, tee, log };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A certificate for a fresh key B that carries the evidence (context claim included) made for identity A's
 * key: what a host that copied acond's certificate extensions would present with its own key.
 */
export async function forgedIdentity(
  from: TlsIdentity,
): Promise<{ certPem: string; keyPem: string; certDer: Uint8Array }> {
  const alg = { name: "ECDSA", namedCurve: "P-384" };
  const b = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", b.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", b.privateKey));
  const a = parseCert(from.certDer);
  const certDer = await buildCertificate(
    { spki, evidence: a.evidence },
    async (tbs) =>
      new Uint8Array(
        await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, b.privateKey, tbs.slice()),
      ),
  );
  return { certPem: pem("CERTIFICATE", certDer), keyPem: pem("PRIVATE KEY", pkcs8), certDer };
}
