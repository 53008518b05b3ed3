/**
 * The RTMR3 log in the TCG2 crypto-agile form, read by an independent parser (tpm2-tools'
 * tpm2_eventlog, Debian): a dev daemon (sim TEE) loads two images and finalizes; `aconctl
 * event-log --tcg FILE` writes the log; tpm2_eventlog parses it; replaying its SHA-384 digests
 * from zero (computed here with node:crypto from the YAML) equals RTMR3 of a Report. The
 * firmware's CCEL is passed through from an injected ACPI tables directory.
 */
import { createHash } from "node:crypto";
import { assertEquals, assertMatch, assertOk } from "../helpers/assert.ts";
import { startDaemon, TOP } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, signedManifest } from "../helpers/image.ts";
import { parseTdReport } from "../../src/attest/tdreport.ts";
import { toHex } from "../../src/digest.ts";

async function run(cmd: string, ...args: string[]) {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

Deno.test("tpm2_eventlog parses the TCG log of a daemon that loaded two images and finalized; its replay is RTMR3", async () => {
  const acpi = await Deno.makeTempDir({ prefix: "acond-acpi-" });
  // A fixture CCEL: any bytes; acond passes both files through unchanged.
  const table = new TextEncoder().encode("CCEL fixture table");
  const data = new Uint8Array([1, 2, 3, 0xff, 0xff]);
  await Deno.mkdir(`${acpi}/data`);
  await Deno.writeFile(`${acpi}/CCEL`, table);
  await Deno.writeFile(`${acpi}/data/CCEL`, data);
  const d = await startDaemon({ args: ["--acpi-tables", acpi] });
  try {
    const c = d.client();
    const ids = [];
    const signer = await makeSigner("ec-p384");
    for (const entrypoint of [["/bin/sh"], ["/bin/true"]]) {
      const m = await signedManifest(signer, baseManifest({ entrypoint }));
      ids.push((await c.addManifest(m)).imageId);
    }
    await c.finalize({});
    const file = `${d.dir}/rtmr3.tcg`;
    const ccelFile = `${d.dir}/ccel.bin`;
    const r = await run(
      `${TOP}/dist/aconctl`,
      "--socket",
      d.socket,
      "event-log",
      "--tcg",
      file,
      "--ccel",
      ccelFile,
    );
    assertEquals(r.code, 0, r.out + r.err);
    assertMatch(r.out, /\(matches\)/);
    assertEquals(await Deno.readFile(ccelFile), data);
    const el = await c.getEventLog({});
    assertEquals(el.ccel, data);
    assertEquals(el.ccelTable, table);

    const t = await run("tpm2_eventlog", file);
    assertEquals(t.code, 0, t.err);
    // The YAML: the Spec ID header, then one EV_EVENT_TAG per line at PCR index 4 (RTMR3).
    assertMatch(t.out, /Signature: Spec ID Event03/);
    assertMatch(t.out, /algorithmId: sha384/);
    const types = [...t.out.matchAll(/^ {2}EventType: (\S+)$/gm)].map((m) => m[1]);
    const pcrs = [...t.out.matchAll(/^ {2}PCRIndex: (\d+)$/gm)].map((m) => Number(m[1]));
    const digests = [
      ...t.out.matchAll(/^ {2}- AlgorithmId: sha384\n {4}Digest: "([0-9a-f]{96})"$/gm),
    ]
      .map((m) => m[1]);
    const events = [...t.out.matchAll(/^ {2}Event: "([0-9a-f]+)"$/gm)].map((m) => m[1]);
    assertEquals(el.lines.length, 5, el.lines.join("\n")); // INIT, Boot, two AddManifest, Finalize
    assertEquals(types, ["EV_NO_ACTION", ...el.lines.map(() => "EV_EVENT_TAG")]);
    assertEquals(pcrs, [0, ...el.lines.map(() => 4)]);
    assertEquals(digests.length, el.lines.length);
    // Each event keeps its text preimage after the 8-byte tag header ("ACON", size).
    const texts = events.map((h) => new TextDecoder().decode(hexBytes(h).subarray(8)));
    assertEquals(texts, el.lines);
    for (const id of ids) assertOk(texts.includes(`github.com/intel/ACON AddManifest ${id}`));

    let h = new Uint8Array(48);
    for (const dg of digests) {
      h = new Uint8Array(
        createHash("sha384").update(new Uint8Array([...h, ...hexBytes(dg)])).digest(),
      );
    }
    const rep = await c.report({ nonceLo: 1n, nonceHi: 2n, requestType: 0 });
    assertEquals(toHex(h), toHex(parseTdReport(rep.data).rtmr[3]));
    // tpm2_eventlog's own replay agrees.
    assertMatch(t.out, new RegExp(`sha384:\\n\\s+4\\s+: 0x${toHex(h)}`));

    // A bundle whose log is in the TCG form only verifies; one whose two forms disagree is refused.
    const bundle = `${d.dir}/bundle.json`;
    const rep2 = await run(`${TOP}/dist/aconctl`, "--socket", d.socket, "report", "--out", bundle);
    assertEquals(rep2.code, 0, rep2.out + rep2.err);
    const b = JSON.parse(await Deno.readTextFile(bundle));
    assertEquals(b.ccel, toHex(data));
    assertEquals(b.ccelTable, toHex(table));
    const tcgOnly = { ...b, rtmr3Log: undefined };
    await Deno.writeTextFile(bundle, JSON.stringify(tcgOnly));
    const v = await run(
      `${TOP}/dist/aconctl`,
      "verify",
      bundle,
      "--allow-sim",
      "--require-finalize",
    );
    assertEquals(v.code, 0, v.out + v.err);
    assertMatch(v.out, /verification: OK/);
    await Deno.writeTextFile(bundle, JSON.stringify({ ...b, rtmr3Log: b.rtmr3Log.slice(0, -1) }));
    const bad = await run(`${TOP}/dist/aconctl`, "verify", bundle, "--allow-sim");
    assertEquals(bad.code, 1, bad.out + bad.err);
    assertMatch(bad.out + bad.err, /ERROR: rtmr3TcgLog and rtmr3Log disagree/);
  } finally {
    await d.stop();
    await Deno.remove(acpi, { recursive: true });
  }
});

Deno.test("without a CCEL table GetEventLog has no ccel field and event-log says so", async () => {
  const acpi = await Deno.makeTempDir({ prefix: "acond-acpi-" });
  const d = await startDaemon({ args: ["--acpi-tables", acpi] });
  try {
    const el = await d.client().getEventLog({});
    assertEquals([el.ccel, el.ccelTable], [undefined, undefined]);
    const r = await run(`${TOP}/dist/aconctl`, "--socket", d.socket, "event-log");
    assertEquals(r.code, 0, r.out + r.err);
    assertMatch(r.out, /firmware CCEL: none/);
    const x = await run(
      `${TOP}/dist/aconctl`,
      "--socket",
      d.socket,
      "event-log",
      "--ccel",
      `${acpi}/x`,
    );
    assertEquals(x.code, 1, x.out + x.err);
  } finally {
    await d.stop();
    await Deno.remove(acpi, { recursive: true });
  }
});

function hexBytes(h: string): Uint8Array {
  return new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));
}
