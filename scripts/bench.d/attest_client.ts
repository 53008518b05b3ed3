/**
 * Bench client for the "attest" section of scripts/bench: Report latency (TDREPORT and quote,
 * sim backend), AddManifest latency including the RTMR3 measurement (event log fsync included),
 * and the speed of replaying/verifying a 10,000-event log.
 * Usage: attest_client.ts <socket> [reports] [manifests]
 * Prints the section's table rows.
 */
import { connect } from "../../src/cli/client.ts";
import { sign } from "node:crypto";

import { makeSigner } from "../../tests/helpers/pki.ts";
import { baseManifest, canonicalJson } from "../../tests/helpers/image.ts";
import { addManifestLine, INIT_LINE, replay } from "../../src/attest/eventlog.ts";
import { verifyReport } from "../../src/attest/verify.ts";

const [socket, nReports = "300", nManifests = "150"] = Deno.args;
const c = connect(`unix:${socket}`);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(3);
}

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 10; i++) await fn(-1 - i); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

const report = await timeEach(
  +nReports,
  (i) => c.report({ nonceLo: BigInt(i & 0xffff), nonceHi: 1n, requestType: 0 }),
);
const quote = await timeEach(
  +nReports,
  (i) => c.report({ nonceLo: BigInt(i & 0xffff), nonceHi: 2n, requestType: 1 }),
);

// Distinct manifests signed in-process (node:crypto, same key as the openssl-made certificate).
const signer = await makeSigner("ec-p384");
const key = await Deno.readTextFile(signer.keyPath);
const manifests = Array.from({ length: +nManifests + 10 }, (_, i) => {
  const text = canonicalJson(baseManifest({ env: [`BENCH=${i}`] }));
  return { manifest: text, signature: sign("sha384", new TextEncoder().encode(text), key) };
});
let k = 0;
const addManifest = await timeEach(+nManifests, () => {
  const m = manifests[k++];
  return c.addManifest({
    manifest: m.manifest,
    signature: m.signature,
    certificate: signer.certificate,
  });
});

// Replay and full verification of a 10,000-event log (in-process, pure).
const lines = [INIT_LINE];
for (let i = 1; i < 10_000; i++) {
  lines.push(addManifestLine(`sha384/${"a".repeat(96)}/${i.toString(16).padStart(96, "0")}`));
}
let t0 = performance.now();
const rtmr3 = replay(lines);
const replayMs = performance.now() - t0;
const rep = await c.report({ nonceLo: 1n, nonceHi: 1n, requestType: 1 });
t0 = performance.now();
const v = verifyReport({
  data: rep.data,
  rtmr3Log: rep.mrlog[3].logs,
  attestationData: rep.attestationData,
  nonce: { lo: 1n, hi: 1n },
  allowSim: true,
  simPublicKey: rep.simPublicKey,
});
const verifyMs = performance.now() - t0;
if (!v.ok || rtmr3.length !== 48) throw new Error(`verification failed: ${v.errors}`);

const row = (m: string, v: string) => console.log(`${"attest".padEnd(8)} | ${m.padEnd(44)} | ${v}`);
row(
  "Report TDREPORT (sim) p50 / p99",
  `${pct(report, 50)} / ${pct(report, 99)} ms (${nReports} calls)`,
);
row("Report quote (sim, ECDSA P-384) p50 / p99", `${pct(quote, 50)} / ${pct(quote, 99)} ms`);
row(
  "AddManifest incl. RTMR3 measure p50 / p99",
  `${pct(addManifest, 50)} / ${pct(addManifest, 99)} ms (${nManifests} images)`,
);
row(
  "event-log replay, 10,000 events",
  `${replayMs.toFixed(1)} ms (${Math.round(10_000 / (replayMs / 1000))} events/s)`,
);
row(`verify a quote + ${rep.mrlog[3].logs.length}-line log`, `${verifyMs.toFixed(2)} ms`);
Deno.exit(0);
