/** Collateral from a PCCS (Intel's v4 API paths), served locally from the real sample. */
import { assertEquals, assertMatch, assertOk, assertRejects } from "../../../helpers/assert.ts";
import { fakePccs, V4_AT, V4_COLLATERAL, V4_QUOTE } from "../../../helpers/dcap.ts";
import { readQuote } from "../../../../src/attest/dcap/parse.ts";
import {
  fetchCollateral,
  parseCollateral,
  PCS_FORMAT,
} from "../../../../src/attest/dcap/collateral.ts";
import { verifyDcap } from "../../../../src/attest/dcap/verify.ts";

const q = readQuote(Deno.readFileSync(V4_QUOTE));

Deno.test("--pccs: fetches Intel's v4 endpoints, keeps the bodies verbatim, verifies", async () => {
  const pccs = fakePccs(V4_COLLATERAL);
  try {
    const doc = await fetchCollateral(`${pccs.url}/sgx/certification/v4/`, q);
    assertEquals(pccs.requests.sort(), [
      "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
      "/sgx/certification/v4/rootcacrl",
      "/tdx/certification/v4/qe/identity",
      "/tdx/certification/v4/tcb?fmspc=B0C06F000000",
    ]);
    assertEquals(doc.format, PCS_FORMAT);
    assertEquals(doc.source?.fmspc, "B0C06F000000");
    assertOk(doc.tcbInfo.body.startsWith('{"tcbInfo":{"id":"TDX"'));
    // The document survives a JSON round trip (it is what bundles and --collateral files hold)
    // and yields exactly the library's collateral of the sample.
    const col = parseCollateral(JSON.stringify(doc));
    assertEquals(col.shape, "intel-pcs-v4");
    const want = parseCollateral(Deno.readTextFileSync(V4_COLLATERAL)).qvl;
    assertEquals(col.qvl, want);
    const v = verifyDcap(q, col.qvl, { at: V4_AT });
    assertEquals([v.ok, v.status], [true, "UpToDate"]);
  } finally {
    await pccs.close();
  }
});

Deno.test("--pccs: a PCCS that never answers gives a clear error within the deadline", async () => {
  const pccs = fakePccs(V4_COLLATERAL, { hang: true });
  try {
    await assertRejects(
      () => fetchCollateral(pccs.url, q, { timeoutMs: 300 }),
      (e: Error) => {
        assertMatch(e.message, /GET http:\/\/127\.0\.0\.1:\d+\/.*: no answer within 0\.3 s/);
        return true;
      },
    );
  } finally {
    await pccs.close();
  }
});

Deno.test("--pccs: an HTTP error or a missing issuer chain is named", async () => {
  const pccs = fakePccs(V4_COLLATERAL);
  try {
    await assertRejects(() => fetchCollateral(`${pccs.url}/nothing`, q), /HTTP 404/);
  } finally {
    await pccs.close();
  }
  const noHeader: typeof fetch = (input) =>
    Promise.resolve(new Response(String(input).includes("crl") ? "00" : "{}"));
  await assertRejects(
    () => fetchCollateral("http://pccs.invalid", q, { fetch: noHeader }),
    /no (TCB-Info|SGX-Enclave-Identity|SGX-PCK-CRL)-\w*-?Issuer-Chain header|Issuer-Chain header/,
  );
});
