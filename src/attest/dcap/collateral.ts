/**
 * DCAP collateral: what a verifier needs besides the quote (TCB info, QE identity, CRLs and the
 * certificate chains that sign them). Two JSON shapes are read (docs/attestation.md,
 * "Collateral"):
 * - `intel-pcs-v4`: the bodies and issuer-chain headers of Intel's PCS/PCCS v4 endpoints,
 *   verbatim, gathered in one document (what `--pccs` fetches and `report --out` saves);
 * - the flat shape of the dcap-qvl library (`tcb_info`, `tcb_info_signature`, …), which its
 *   sample files and other tools use.
 * Both become the library's shape (`QvlCollateral`) for verification. Parsing is pure; only
 * fetchCollateral does I/O (HTTP, bounded by a deadline).
 */
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import { Quote as QvlQuote, utils as qvlUtils } from "@phala/dcap-qvl";
import type { Quote } from "../quote.ts";

/** The library's collateral (hex strings for binary fields). */
export interface QvlCollateral {
  pck_crl_issuer_chain: string;
  root_ca_crl: string;
  pck_crl: string;
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: string;
  pck_certificate_chain?: string;
}

export const PCS_FORMAT = "intel-pcs-v4";

/** One PCS response: its body as received (text; binary bodies as hex) and its issuer chain. */
export interface PcsResponse {
  body: string;
  issuerChain: string;
}

/** Intel PCS/PCCS v4 TDX collateral, each endpoint's answer verbatim. */
export interface PcsCollateral {
  format: typeof PCS_FORMAT;
  /** GET {base}/tdx/certification/v4/tcb?fmspc=F: `{"tcbInfo":{…},"signature":"…"}`, header TCB-Info-Issuer-Chain. */
  tcbInfo: PcsResponse;
  /** GET {base}/tdx/certification/v4/qe/identity: `{"enclaveIdentity":{…},"signature":"…"}`, header SGX-Enclave-Identity-Issuer-Chain. */
  qeIdentity: PcsResponse;
  /** GET {base}/sgx/certification/v4/pckcrl?ca=C&encoding=der: the CRL (hex of the DER, or PEM), header SGX-PCK-CRL-Issuer-Chain. */
  pckCrl: PcsResponse;
  /** The Intel SGX Root CA's CRL (hex of the DER, or PEM): GET {base}/sgx/certification/v4/rootcacrl on a PCCS. */
  rootCaCrl: string;
  /** The PCK certificate chain (PEM, leaf first) when the quote does not carry it. */
  pckCertChain?: string;
  /** Where and when it was fetched (informational; not trusted). */
  source?: { url: string; fetchedAt: string; fmspc: string; ca: string };
}

export type CollateralShape = "intel-pcs-v4" | "dcap-qvl";

export interface Collateral {
  shape: CollateralShape;
  qvl: QvlCollateral;
  /** The PCS document itself, when that was the shape (saved in bundles as is). */
  pcs?: PcsCollateral;
}

const HEX = /^[0-9a-fA-F]*$/;

/** CRL text (hex of DER, or PEM "X509 CRL") or bytes as lowercase hex of the DER. */
export function crlHex(v: unknown, what: string): string {
  if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) {
    return Buffer.from(v as number[]).toString("hex");
  }
  if (typeof v !== "string") throw new Error(`${what}: expected hex, PEM or a byte array`);
  const s = v.trim();
  const pem = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(s);
  if (pem) return Buffer.from(pem[1].replace(/\s+/g, ""), "base64").toString("hex");
  if (HEX.test(s) && s.length % 2 === 0 && s.length > 0) return s.toLowerCase();
  throw new Error(`${what}: expected hex of the DER or a PEM X509 CRL`);
}

function hexField(v: unknown, what: string): string {
  if (Array.isArray(v)) return crlHex(v, what);
  if (typeof v !== "string" || !HEX.test(v) || v.length % 2 !== 0) {
    throw new Error(`${what}: expected a hex string`);
  }
  return v.toLowerCase();
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length === 0) throw new Error(`${what}: expected a string`);
  return v;
}

/**
 * The exact text of a top-level member's value in a JSON object (Intel signs the bytes of
 * `tcbInfo` / `enclaveIdentity` as they appear in the response body, so they must not be
 * re-serialised). Throws unless `text` is an object with exactly one such member.
 */
export function rawMember(text: string, key: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i])) i++;
  };
  const fail = (why: string): never => {
    throw new Error(`not a JSON object with "${key}": ${why} at ${i}`);
  };
  const skipString = () => {
    if (text[i] !== '"') fail("expected a string");
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail("unterminated string");
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const skipValue = () => {
    ws();
    const start = i;
    if (text[i] === '"') skipString();
    else if (text[i] === "{" || text[i] === "[") {
      let depth = 0;
      do {
        if (text[i] === '"') {
          skipString();
          continue;
        }
        if (text[i] === "{" || text[i] === "[") depth++;
        else if (text[i] === "}" || text[i] === "]") depth--;
        i++;
      } while (depth > 0 && i < text.length);
      if (depth !== 0) fail("unbalanced");
    } else {
      while (i < text.length && !",}] \t\r\n".includes(text[i])) i++;
    }
    if (i === start) fail("expected a value");
    return text.slice(start, i);
  };
  ws();
  if (text[i++] !== "{") fail("expected {");
  let found: string | undefined;
  for (;;) {
    ws();
    if (text[i] === "}") break;
    const k = skipString();
    ws();
    if (text[i++] !== ":") fail("expected :");
    const v = skipValue();
    if (k === key) {
      if (found !== undefined) fail("duplicate member");
      found = v;
    }
    ws();
    if (text[i] === ",") i++;
    else if (text[i] !== "}") fail("expected , or }");
  }
  if (found === undefined) fail("member missing");
  JSON.parse(found!); // it is valid JSON on its own
  return found!;
}

function signedPart(r: PcsResponse, key: string, what: string): { text: string; sig: string } {
  const body = str(r?.body, `${what}.body`);
  const text = rawMember(body, key);
  const sig = (JSON.parse(body) as Record<string, unknown>).signature;
  return { text, sig: hexField(sig, `${what}.body.signature`) };
}

/** The library's collateral from a PCS document. */
export function pcsToQvl(p: PcsCollateral): QvlCollateral {
  const tcb = signedPart(p.tcbInfo, "tcbInfo", "tcbInfo");
  const qe = signedPart(p.qeIdentity, "enclaveIdentity", "qeIdentity");
  return {
    pck_crl_issuer_chain: str(p.pckCrl?.issuerChain, "pckCrl.issuerChain"),
    root_ca_crl: crlHex(p.rootCaCrl, "rootCaCrl"),
    pck_crl: crlHex(p.pckCrl?.body, "pckCrl.body"),
    tcb_info_issuer_chain: str(p.tcbInfo.issuerChain, "tcbInfo.issuerChain"),
    tcb_info: tcb.text,
    tcb_info_signature: tcb.sig,
    qe_identity_issuer_chain: str(p.qeIdentity.issuerChain, "qeIdentity.issuerChain"),
    qe_identity: qe.text,
    qe_identity_signature: qe.sig,
    ...(p.pckCertChain ? { pck_certificate_chain: str(p.pckCertChain, "pckCertChain") } : {}),
  };
}

/** Reads collateral JSON (either shape, or an already parsed value); throws naming the field. */
export function parseCollateral(input: string | unknown): Collateral {
  const v = typeof input === "string" ? JSON.parse(input) : input;
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new Error("collateral must be a JSON object");
  }
  const o = v as Record<string, unknown>;
  if (o.format === PCS_FORMAT) {
    const pcs = o as unknown as PcsCollateral;
    return { shape: "intel-pcs-v4", qvl: pcsToQvl(pcs), pcs };
  }
  if ("tcb_info" in o) {
    const qvl: QvlCollateral = {
      pck_crl_issuer_chain: str(o.pck_crl_issuer_chain, "pck_crl_issuer_chain"),
      root_ca_crl: crlHex(o.root_ca_crl, "root_ca_crl"),
      pck_crl: crlHex(o.pck_crl, "pck_crl"),
      tcb_info_issuer_chain: str(o.tcb_info_issuer_chain, "tcb_info_issuer_chain"),
      tcb_info: str(o.tcb_info, "tcb_info"),
      tcb_info_signature: hexField(o.tcb_info_signature, "tcb_info_signature"),
      qe_identity_issuer_chain: str(o.qe_identity_issuer_chain, "qe_identity_issuer_chain"),
      qe_identity: str(o.qe_identity, "qe_identity"),
      qe_identity_signature: hexField(o.qe_identity_signature, "qe_identity_signature"),
      ...(typeof o.pck_certificate_chain === "string"
        ? { pck_certificate_chain: o.pck_certificate_chain }
        : {}),
    };
    return { shape: "dcap-qvl", qvl };
  }
  throw new Error(
    `unknown collateral shape: expected {"format":"${PCS_FORMAT}",…} or dcap-qvl's {"tcb_info":…}`,
  );
}

/** PEM certificates of a chain, as DER, in order. */
export function pemCerts(chain: string): Uint8Array[] {
  return qvlUtils.extractCerts(Buffer.from(chain, "utf-8")).map((b: Buffer) => new Uint8Array(b));
}

/** FMSPC (hex, upper case) and PCK CA ("processor" | "platform") of a quote's PCK certificate. */
export function pckIdentity(q: Quote, pckCertChain?: string): { fmspc: string; ca: string } {
  const chain = pckCertChain ?? pckChainOfQuote(q);
  const certs = pemCerts(chain);
  if (certs.length === 0) throw new Error("the quote carries no PCK certificate chain");
  const leaf = Buffer.from(certs[0]);
  const fmspc = Buffer.from(qvlUtils.getFmspc(qvlUtils.getIntelExtension(leaf)))
    .toString("hex").toUpperCase();
  const issuer = new X509Certificate(leaf).issuer;
  const ca = /Platform/.test(issuer) ? "platform" : "processor";
  return { fmspc, ca };
}

/** The PEM PCK chain the quote carries (certification data type 5, inside type 6). */
export function pckChainOfQuote(q: Quote): string {
  const parsed = QvlQuote.parse(Buffer.from(q.bytes));
  const inner = (parsed.authData.intoV3().certificationData as { certType: number }).certType;
  if (inner !== 5) {
    throw new Error(`the quote's certification data is type ${inner}, not a PCK chain (type 5)`);
  }
  return Buffer.from(parsed.rawCertChain()).toString("utf-8");
}

export interface FetchOptions {
  /** Deadline for each request, in milliseconds (default 30 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => Date;
}

/** Intel's published CRL of the SGX Root CA (the root certificate's CRL distribution point). */
export const INTEL_ROOT_CA_CRL_URL =
  "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/**
 * Fetches the collateral for a quote from a PCCS or Intel's PCS (`base` is the host part, e.g.
 * `https://pccs.example:8081`; a trailing `/sgx|tdx/certification/v4` is accepted).
 */
export async function fetchCollateral(
  base: string,
  q: Quote,
  opts: FetchOptions = {},
): Promise<PcsCollateral> {
  const f = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const root = base.replace(/\/+$/, "").replace(/\/(sgx|tdx)\/certification\/v4$/, "");
  const { fmspc, ca } = pckIdentity(q);
  const get = async (url: string) => {
    let r: Response;
    try {
      r = await f(url, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const why = (e as Error).name === "TimeoutError"
        ? `no answer within ${timeoutMs / 1000} s`
        : (e as Error).message;
      throw new Error(`GET ${url}: ${why}`);
    }
    if (!r.ok) {
      await r.body?.cancel();
      throw new Error(`GET ${url}: HTTP ${r.status}`);
    }
    return { r, bytes: new Uint8Array(await r.arrayBuffer()) };
  };
  const header = (r: Response, url: string, ...names: string[]) => {
    for (const n of names) {
      const v = r.headers.get(n);
      if (v) return decodeURIComponent(v);
    }
    throw new Error(`GET ${url}: no ${names[0]} header`);
  };
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const asCrl = (b: Uint8Array, url: string) => {
    const t = text(b).trim();
    if (t.startsWith("-----BEGIN") || (HEX.test(t) && t.length > 0)) return crlHex(t, url);
    return Buffer.from(b).toString("hex");
  };
  const tcbUrl = `${root}/tdx/certification/v4/tcb?fmspc=${fmspc}`;
  const qeUrl = `${root}/tdx/certification/v4/qe/identity`;
  const crlUrl = `${root}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`;
  const rootCrlUrl = `${root}/sgx/certification/v4/rootcacrl`;
  const [tcb, qe, crl] = await Promise.all([get(tcbUrl), get(qeUrl), get(crlUrl)]);
  let rootCrl: string;
  try {
    rootCrl = asCrl((await get(rootCrlUrl)).bytes, rootCrlUrl);
  } catch (e) {
    // Intel's PCS has no rootcacrl endpoint: the root's CRL distribution point serves it.
    if (!/HTTP 404/.test((e as Error).message)) throw e;
    rootCrl = asCrl((await get(INTEL_ROOT_CA_CRL_URL)).bytes, INTEL_ROOT_CA_CRL_URL);
  }
  return {
    format: PCS_FORMAT,
    tcbInfo: {
      body: text(tcb.bytes),
      issuerChain: header(tcb.r, tcbUrl, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
    },
    qeIdentity: {
      body: text(qe.bytes),
      issuerChain: header(qe.r, qeUrl, "SGX-Enclave-Identity-Issuer-Chain"),
    },
    pckCrl: {
      body: asCrl(crl.bytes, crlUrl),
      issuerChain: header(crl.r, crlUrl, "SGX-PCK-CRL-Issuer-Chain"),
    },
    rootCaCrl: rootCrl,
    source: { url: root, fetchedAt: (opts.now?.() ?? new Date()).toISOString(), fmspc, ca },
  };
}
