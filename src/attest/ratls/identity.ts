/**
 * The TLS identity of the host-facing listeners, made once per boot inside the VM: an ECDSA P-384
 * key pair (WebCrypto), the TlsKey event in the RTMR3 log binding its public key, a quote whose
 * REPORTDATA binds the key (./evidence.ts), and the self-signed certificate carrying both
 * (./cert.ts). The order is the measurement rule's: the event is measured before the quote, so
 * the quote's RTMR3 covers it, and the log carried in the certificate is the one at the quote.
 *
 * The private key: signing the certificate uses a non-extractable copy; Deno's TLS server takes
 * the key only as PEM text, so one PKCS#8 export is kept in memory for the listener (never
 * written to disk, logged or served). When no quote can be had (a TD without a quote service),
 * the certificate carries no evidence and clients refuse it (fail closed); the reason is logged.
 */
import { sha384Native, toHex } from "../../digest_boot.ts";
import type { Tee } from "../tee.ts";
import type { EventLog } from "../eventlog.ts";
import type { Mutex } from "../../util/mutex.ts";
import { log } from "../../util/log.ts";
import { buildCertificate, pem } from "./cert_build.ts";
import { claimsBufferFor, encodeContext, encodeEvidence, reportDataForClaims } from "./evidence.ts";
import { tlsKeyLine } from "./event.ts";

export interface TlsIdentity {
  /** PEM of the certificate and of the private key (PKCS#8), as Deno.listenTls takes them. */
  certPem: string;
  keyPem: string;
  certDer: Uint8Array;
  /** Hex SHA-384 of the SubjectPublicKeyInfo (what the TlsKey event records). */
  spkiSha384: string;
  /** Whether the certificate carries evidence. */
  attested: boolean;
}

export interface IdentityDeps {
  tee: Tee;
  eventLog: EventLog;
  /** The state lock: the event, the quote and the log snapshot describe one moment. */
  lock: Mutex;
}

export async function makeTlsIdentity(d: IdentityDeps): Promise<TlsIdentity> {
  const t0 = performance.now();
  const alg = { name: "ECDSA", namedCurve: "P-384" };
  const pair = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const signer = await crypto.subtle.importKey("pkcs8", pkcs8, alg, false, ["sign"]);
  const spkiHash = await sha384Native(spki);
  const t1 = performance.now();
  let evidence: Uint8Array | undefined;
  try {
    evidence = await d.lock.run(async () => {
      await d.eventLog.measure(tlsKeyLine(toHex(spkiHash)));
      // The context is a claim, so it is made before the quote; the simulator makes its signing
      // key on first use, so it is asked for its public key first.
      const sim = d.tee as { publicKey?: () => Promise<Uint8Array> };
      const context = encodeContext({
        rtmr3Log: [...d.eventLog.lines],
        simPublicKey: d.tee.kind === "sim" && sim.publicKey ? await sim.publicKey() : undefined,
      });
      const claims = claimsBufferFor(spkiHash, context);
      const quote = await d.tee.quote(reportDataForClaims(claims));
      return encodeEvidence(quote, claims);
    });
  } catch (e) {
    log.error(
      `TLS certificate without evidence (clients will refuse it): ${(e as Error).message}`,
    );
  }
  const t2 = performance.now();
  const certDer = await buildCertificate(
    { spki, evidence },
    async (tbs) =>
      new Uint8Array(
        await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, signer, tbs.slice()),
      ),
  );
  const ms = (a: number, b: number) => (b - a).toFixed(0);
  const t3 = performance.now();
  log.info(
    `TLS identity in ${ms(t0, t3)} ms: key ${ms(t0, t1)}, event and quote ${ms(t1, t2)}, ` +
      `certificate ${ms(t2, t3)}`,
  );
  return {
    certPem: pem("CERTIFICATE", certDer),
    keyPem: pem("PRIVATE KEY", pkcs8),
    certDer,
    spkiSha384: toHex(spkiHash),
    attested: evidence !== undefined,
  };
}
