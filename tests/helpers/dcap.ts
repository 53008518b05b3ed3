/**
 * DCAP test data (tests/data/dcap/README.md): real quotes and collateral, times inside the
 * collateral's validity, and a local PCCS that serves the collateral the way Intel's v4 API does.
 */
import { Buffer } from "node:buffer";

export const DCAP_DIR = new URL("../data/dcap/", import.meta.url).pathname;
export const V4_QUOTE = `${DCAP_DIR}tdx_quote`;
export const V4_COLLATERAL = `${DCAP_DIR}tdx_quote_collateral.json`;
export const V5_QUOTE = `${DCAP_DIR}tdx_quote_outdated`;
export const V5_COLLATERAL = `${DCAP_DIR}tdx_quote_outdated_collateral.json`;
export const HEX_QUOTE = `${DCAP_DIR}tdx-quote.hex`;
/** Inside every validity window of the v4 sample's collateral (TCB info 2025-06-19..07-19). */
export const V4_AT = new Date("2025-06-20T00:00:00Z");
/** Inside the v5 sample's collateral (TCB info 2026-02-18..03-20). */
export const V5_AT = new Date("2026-02-19T00:00:00Z");

export function readQvlCollateral(path: string): Record<string, string> {
  return JSON.parse(Deno.readTextFileSync(path));
}

export interface FakePccs {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/**
 * A PCCS on 127.0.0.1 answering Intel's v4 paths from a dcap-qvl collateral file: the bodies
 * Intel serves (`{"tcbInfo":…,"signature":…}`, DER CRLs) with URL-encoded issuer-chain headers.
 * `hang: true` accepts requests and never answers (a stuck provider).
 */
export function fakePccs(collateralPath: string, opts: { hang?: boolean } = {}): FakePccs {
  const c = readQvlCollateral(collateralPath);
  const requests: string[] = [];
  const ac = new AbortController();
  const pending: ((r: Response) => void)[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) => {
      const u = new URL(req.url);
      requests.push(u.pathname + u.search);
      if (opts.hang) return new Promise<Response>((res) => pending.push(res));
      const chain = (v: string) => encodeURIComponent(v);
      const p = u.pathname;
      if (p === "/tdx/certification/v4/tcb") {
        return new Response(`{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`, {
          headers: { "TCB-Info-Issuer-Chain": chain(c.tcb_info_issuer_chain) },
        });
      }
      if (p === "/tdx/certification/v4/qe/identity") {
        return new Response(
          `{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`,
          { headers: { "SGX-Enclave-Identity-Issuer-Chain": chain(c.qe_identity_issuer_chain) } },
        );
      }
      if (p === "/sgx/certification/v4/pckcrl") {
        return new Response(Buffer.from(c.pck_crl, "hex"), {
          headers: { "SGX-PCK-CRL-Issuer-Chain": chain(c.pck_crl_issuer_chain) },
        });
      }
      if (p === "/sgx/certification/v4/rootcacrl") return new Response(c.root_ca_crl);
      return new Response("not found", { status: 404 });
    },
  );
  const addr = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    async close() {
      for (const r of pending) r(new Response("gone", { status: 503 }));
      ac.abort();
      await server.finished;
    },
  };
}
