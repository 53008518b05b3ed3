/**
 * Checks the dcap-qvl library leaves out: each CRL's signature (the root CA CRL by the pinned
 * root, the PCK CRL by the PCK CA whose chain is in the collateral, itself checked up to the
 * pinned root) and validity (thisUpdate ≤ at ≤ nextUpdate). The library only looks revoked
 * serial numbers up in the CRLs and skips a CRL it cannot parse. Signatures are checked with
 * node:crypto; DER is walked only to find the signed bytes.
 */
import { Buffer } from "node:buffer";
import { verify, X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificateList } from "@peculiar/asn1-x509";
import { pemCerts } from "./collateral.ts";

const ECDSA_SHA256 = "1.2.840.10045.4.3.2";

/** One DER TLV at `off`: where its header starts, its value starts, and where it ends. */
function tlv(b: Uint8Array, off: number): { tag: number; value: number; end: number } {
  if (off + 2 > b.length) throw new Error("DER truncated");
  const tag = b[off];
  let len = b[off + 1];
  let value = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || value + n > b.length) throw new Error("DER: bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[value + i];
    value += n;
  }
  if (value + len > b.length) throw new Error("DER truncated");
  return { tag, value, end: value + len };
}

export interface CrlInfo {
  thisUpdate: Date;
  nextUpdate?: Date;
  issuer: string;
}

/** Verifies a CRL's signature with the issuer's certificate and its validity at `at`. */
export function checkCrl(
  der: Uint8Array,
  issuer: X509Certificate,
  at: Date,
  what: string,
): CrlInfo {
  const outer = tlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new Error(`${what}: not a DER CRL`);
  const tbs = tlv(der, outer.value);
  const alg = tlv(der, tbs.end);
  const sig = tlv(der, alg.end);
  if (sig.tag !== 0x03 || der[sig.value] !== 0) throw new Error(`${what}: bad signature field`);
  const crl = AsnConvert.parse(Buffer.from(der), CertificateList);
  if (crl.signatureAlgorithm.algorithm !== ECDSA_SHA256) {
    throw new Error(
      `${what}: signature algorithm ${crl.signatureAlgorithm.algorithm} is not ECDSA-SHA256`,
    );
  }
  const ok = verify(
    "sha256",
    der.subarray(outer.value, tbs.end),
    issuer.publicKey,
    der.subarray(sig.value + 1, sig.end),
  );
  if (!ok) throw new Error(`${what}: signature does not verify with ${issuerName(issuer)}`);
  const thisUpdate = crl.tbsCertList.thisUpdate.getTime();
  const nextUpdate = crl.tbsCertList.nextUpdate?.getTime();
  if (at < thisUpdate) throw new Error(`${what}: not valid before ${thisUpdate.toISOString()}`);
  if (nextUpdate && at > nextUpdate) {
    throw new Error(`${what}: expired at ${nextUpdate.toISOString()} (nextUpdate)`);
  }
  return { thisUpdate, nextUpdate, issuer: issuerName(issuer) };
}

function issuerName(c: X509Certificate): string {
  return /CN=([^\n,]+)/.exec(c.subject)?.[1] ?? c.subject;
}

/**
 * Checks a PEM chain (leaf first) up to the pinned root at `at`: each certificate signed by the
 * next, the last one by the root (a copy of the root at the end is allowed), all valid at `at`.
 * Returns the leaf.
 */
export function checkChain(
  pem: string,
  root: X509Certificate,
  at: Date,
  what: string,
): X509Certificate {
  let certs = pemCerts(pem).map((d) => new X509Certificate(Buffer.from(d)));
  if (certs.length === 0) throw new Error(`${what}: no certificates`);
  const last = certs[certs.length - 1];
  if (certs.length > 1 && last.raw.equals(root.raw)) certs = certs.slice(0, -1);
  for (let i = 0; i < certs.length; i++) {
    const c = certs[i];
    const issuer = certs[i + 1] ?? root;
    if (!c.verify(issuer.publicKey)) {
      throw new Error(`${what}: ${issuerName(c)} is not signed by ${issuerName(issuer)}`);
    }
    if (at < new Date(c.validFrom) || at > new Date(c.validTo)) {
      throw new Error(`${what}: ${issuerName(c)} is not valid at ${at.toISOString()}`);
    }
  }
  return certs[0];
}

/**
 * Both CRLs of a collateral; returns their validity windows. `pckIssuer` (the PCK certificate's
 * issuer name) must be the PCK CRL's issuer: a CRL of the other PCK CA (processor vs platform)
 * would never list the certificate.
 */
export function checkCrls(
  c: { root_ca_crl: string; pck_crl: string; pck_crl_issuer_chain: string },
  rootDer: Uint8Array,
  at: Date,
  pckIssuer?: string,
): { rootCaCrl: CrlInfo; pckCrl: CrlInfo } {
  const root = new X509Certificate(Buffer.from(rootDer));
  const rootCaCrl = checkCrl(Buffer.from(c.root_ca_crl, "hex"), root, at, "root CA CRL");
  const pckCa = checkChain(c.pck_crl_issuer_chain, root, at, "PCK CRL issuer chain");
  if (pckIssuer !== undefined && pckCa.subject !== pckIssuer) {
    throw new Error(
      `PCK CRL is issued by ${issuerName(pckCa)}, but the PCK certificate by ${
        /CN=([^\n,]+)/.exec(pckIssuer)?.[1] ?? pckIssuer
      }`,
    );
  }
  const pckCrl = checkCrl(Buffer.from(c.pck_crl, "hex"), pckCa, at, "PCK CRL");
  return { rootCaCrl, pckCrl };
}
