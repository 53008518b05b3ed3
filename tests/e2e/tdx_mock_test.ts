/**
 * acond's REAL tdx backend end to end under QEMU, against a mock TDX guest kernel module
 * (tests/e2e/mock_tdx/mock_tdx.c, built by scripts/mock-tdx for the packaged Debian kernel) that
 * provides the kernel ABIs: /dev/tdx_guest GET_REPORT0, the legacy RTMR-extend ioctl, the 6.16
 * measurements/rtmr3:sha384 file and a configfs-tsm provider, with the RTMRs kept in the module.
 * Expected bytes are computed here, independently of src/: the whole TDREPORT from the layout
 * (anchors §3.5) and the event log replay; the mock's parameters come from the kernel command line.
 */
import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals, assertMatch, assertOk } from "../helpers/assert.ts";
import { boot, packImage, TOP, type Vm } from "./qemu.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, expectedImageId, signedManifest } from "../helpers/image.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const sha384 = (b: Uint8Array | string) => new Uint8Array(createHash("sha384").update(b).digest());
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const fromHex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));

/** ACON's replay: H0 = 0×48, H = sha384(H ‖ sha384(line)). */
function replay(lines: string[]): Uint8Array {
  let h = new Uint8Array(48);
  for (const l of lines) {
    const b = new Uint8Array(96);
    b.set(h);
    b.set(sha384(l), 48);
    h = sha384(b);
  }
  return h;
}

/** The TDREPORT the mock must produce for these RTMR3 and REPORTDATA (field by field). */
function expectedTdReport(rtmr3: Uint8Array, reportData: Uint8Array): Uint8Array {
  const r = new Uint8Array(1024);
  r[0] = 0x81; // REPORTTYPE: TDX
  r.set(reportData, 128);
  r.set(enc.encode("MOCK-TDX: NO MAC, NOT HARDWARE"), 224); // MAC
  r[256] = 0xff; // TEE_TCB_INFO.VALID
  r.set(enc.encode("MOCK-TDX-TCBSVN"), 264); // TEE_TCB_SVN
  r.set(sha384("mock-tdx:mrseam"), 280); // MRSEAM
  new DataView(r.buffer).setBigUint64(520, 0x602e7n, true); // XFAM (TD ATTRIBUTES @512 = 0)
  r.set(sha384("mock-tdx:mrtd"), 528); // MRTD; MRCONFIGID/MROWNER/MROWNERCONFIG zero
  r.set(rtmr3, 864); // RTMR3; RTMR0..2 (720, 768, 816) zero
  r.set(sha384(r.subarray(256, 256 + 239)), 32); // TEE_TCB_INFO_HASH
  r.set(sha384(r.subarray(512, 1024)), 80); // TEE_INFO_HASH
  return r;
}

function reportDataOf(json: string): Uint8Array {
  const rd = new Uint8Array(64);
  rd.set(sha384(json));
  return rd;
}

let image: Promise<string> | null = null;
/** The mock module built for the packaged kernel, in an initramfs of its own. */
function mockImage(): Promise<string> {
  image ??= (async () => {
    const out = await new Deno.Command(`${TOP}/scripts/mock-tdx`, { stderr: "piped" }).output();
    if (!out.success) throw new Error(`scripts/mock-tdx failed:\n${dec.decode(out.stderr)}`);
    const ko = dec.decode(out.stdout).trim().split("\n").at(-1)!;
    return await packImage({ EXTRA_MODULES: ko }, `${TOP}/build/mock-tdx/initramfs.cpio.lz4`);
  })();
  return image;
}

async function bootMock(append: string[]): Promise<Vm> {
  const vm = await boot(append, { initrd: await mockImage() });
  await vm.waitReady();
  return vm;
}

async function aconctl(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(`${TOP}/dist/aconctl`, { args, stderr: "piped" }).output();
  // --insecure's warning (plain HTTP to the helpers' acond.tls=off VM) is not the output.
  const err = dec.decode(r.stderr).replace(/^aconctl: WARNING: --insecure: .*\n/m, "");
  return { code: r.code, out: dec.decode(r.stdout) + err };
}

async function addImage(vm: Vm): Promise<string> {
  const signer = await makeSigner("ec-p384");
  const m = await signedManifest(signer, baseManifest());
  const id = (await vm.client.addManifest(m)).imageId;
  assertEquals(id, await expectedImageId(signer, m.manifest));
  return id;
}

Deno.test("mock TDX (6.16 sysfs extend + configfs-tsm): TDREPORT and quote at the real offsets, aconctl verify", async () => {
  const vm = await bootMock(["acond.tee=tdx"]);
  try {
    const h = await vm.client.health({});
    assertEquals([h.tee, h.canMeasure, h.pid1], ["tdx", true, true]);
    assertMatch(
      h.teeNote,
      /extend sysfs \/sys\/devices\/virtual\/misc\/tdx_guest\/measurements\/rtmr3:sha384; quote configfs-tsm/,
    );
    const id = await addImage(vm);

    // TDREPORT through the real client, saved, then verified offline.
    const dir = await Deno.makeTempDir({ prefix: "acond-tdx-" });
    try {
      const nonce = "00112233445566778899aabbccddeeff";
      const got = await aconctl([
        "--insecure", // the helpers boot with acond.tls=off (tests/e2e/qemu.ts)
        "--tcp",
        `127.0.0.1:${vm.port}`,
        "--json",
        "report",
        "--nonce",
        nonce,
      ]);
      assertEquals(got.code, 0, got.out);
      const saved = JSON.parse(got.out);
      assertEquals([saved.tee, saved.canMeasure], ["tdx", true]);
      const log: string[] = saved.rtmr3Log;
      assertEquals(log.length, 3, log.join("\n"));
      assertMatch(log[1], /^acond Boot \{"version":"[^"]+","tee":"tdx","pid1":true,/);
      assertEquals(log[2], `github.com/intel/ACON AddManifest ${id}`);
      const tdr = fromHex(saved.data);
      assertEquals(tdr.length, 1024);
      assertEquals(hex(tdr.subarray(864, 912)), hex(replay(log)), "RTMR3 = replay of the log");
      const rd = reportDataOf(saved.attestationData);
      assertEquals(hex(tdr.subarray(128, 192)), hex(rd), "REPORTDATA = sha384(JSON) ‖ 0×16");
      assertEquals(hex(tdr), hex(expectedTdReport(replay(log), rd)), "the whole TDREPORT");
      // RTMR3 as the sysfs file reads it (GetEventLog) is the one in the report.
      assertEquals(hex((await vm.client.getEventLog({})).rtmr3), hex(replay(log)));

      const file = `${dir}/r.json`;
      await Deno.writeTextFile(file, got.out);
      // A bare TDREPORT is not signed: refused unless --allow-unsigned, and then loudly.
      const unsigned = await aconctl(["verify", file]);
      assertEquals(unsigned.code, 1, unsigned.out);
      assertMatch(unsigned.out, /ERROR: a bare TDREPORT is not signed/);
      const ok = await aconctl(["verify", file, "--allow-unsigned"]);
      assertEquals(ok.code, 0, ok.out);
      assertMatch(ok.out, /warning: UNSIGNED EVIDENCE ACCEPTED \(--allow-unsigned\)/);
      assertMatch(
        ok.out,
        /verification: OK[\s\S]*evidence: +tdreport \(tdreport\)[\s\S]*boot: +acond \S+, tee tdx, pid1 true/,
      );
      assertOk(ok.out.includes(id), ok.out);
      // Tampered: one RTMR3 bit; the log without its AddManifest line; another nonce.
      const bad = structuredClone(saved);
      const t = fromHex(saved.data);
      t[900] ^= 1;
      bad.data = hex(t);
      await Deno.writeTextFile(file, JSON.stringify(bad));
      let v = await aconctl(["verify", file, "--allow-unsigned"]);
      assertEquals(v.code, 1, v.out);
      assertMatch(v.out, /ERROR: RTMR3 [0-9a-f]{96} does not match the replayed event log/);
      await Deno.writeTextFile(file, JSON.stringify({ ...saved, rtmr3Log: log.slice(0, 2) }));
      v = await aconctl(["verify", file, "--allow-unsigned"]);
      assertEquals(v.code, 1, v.out);
      assertMatch(
        v.out,
        /does not match the replayed event log[\s\S]*is in the JSON but not measured/,
      );
      await Deno.writeTextFile(file, got.out);
      v = await aconctl(["verify", file, "--allow-unsigned", "--nonce", "ff"]);
      assertEquals(v.code, 1, v.out);
      assertMatch(v.out, /requestor_nonce is not the nonce that was sent/);

      // Quote through configfs-tsm: the mock's quote-v4-shaped blob around a fresh TDREPORT.
      const q = await aconctl([
        "--insecure",
        "--tcp",
        `127.0.0.1:${vm.port}`,
        "--json",
        "report",
        "--quote",
      ]);
      assertEquals(q.code, 0, q.out);
      const qs = JSON.parse(q.out);
      const quote = fromHex(qs.data);
      assertEquals(quote.length, 1676);
      assertEquals(dec.decode(quote.subarray(12, 28)), "MOCK-TDX-QUOTE!!");
      const qrd = reportDataOf(qs.attestationData);
      const inner = expectedTdReport(replay(qs.rtmr3Log), qrd);
      assertEquals(hex(quote.subarray(652)), hex(inner), "the TDREPORT inside the quote");
      assertEquals(hex(quote.subarray(48 + 472, 48 + 520)), hex(replay(qs.rtmr3Log)), "RTMR3 @520");
      assertEquals(hex(quote.subarray(48 + 520, 48 + 584)), hex(qrd), "REPORTDATA @568");
      await Deno.writeTextFile(file, q.out);
      v = await aconctl(["verify", file]);
      assertEquals(v.code, 1, v.out);
      assertMatch(
        v.out,
        /evidence: +quote \(mock\)[\s\S]*ERROR: the evidence comes from a mock TDX/,
      );
      v = await aconctl(["verify", file, "--allow-sim"]);
      assertEquals(v.code, 0, v.out);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await vm.kill();
  }
});

Deno.test("mock TDX (legacy extend ioctl only, tee=auto): measured and verified", async () => {
  const vm = await bootMock(["acond.tee=auto", "mock_tdx.sysfs_mr=0", "mock_tdx.tsm=0"]);
  try {
    const h = await vm.client.health({});
    assertEquals([h.tee, h.canMeasure], ["tdx", true]);
    assertMatch(h.teeNote, /extend legacy ioctl 0x80315403; quote configfs-tsm/);
    const id = await addImage(vm);
    const rep = await vm.client.report({ nonceLo: 5n, nonceHi: 6n, requestType: 0 });
    const log = rep.mrlog[3].logs;
    assertEquals(log.at(-1), `github.com/intel/ACON AddManifest ${id}`);
    const rd = reportDataOf(rep.attestationData);
    assertEquals(hex(rep.data), hex(expectedTdReport(replay(log), rd)));
    const v = await aconctl([
      "--insecure",
      "--tcp",
      `127.0.0.1:${vm.port}`,
      "report",
      "--verify",
      "--allow-unsigned",
    ]);
    assertEquals(v.code, 0, v.out);
    assertMatch(v.out, /verification: OK[\s\S]*evidence: +tdreport \(tdreport\)/);
    // configfs-tsm is there (the tsm module) but has no provider; no GET_QUOTE ioctl, no vsock
    // QGS: every quote path fails, and the request fails cleanly.
    const err = await vm.client.report({ nonceLo: 5n, nonceHi: 6n, requestType: 1 }).then(
      () => null,
      (e) => ConnectError.from(e),
    );
    assertEquals([err?.code, err?.rawMessage], [
      Code.FailedPrecondition,
      "Attestation not supported",
    ]);
  } finally {
    await vm.kill();
  }
});

Deno.test("mock TDX without an extend path (stock 6.12): canMeasure=false, AddManifest refused", async () => {
  const vm = await bootMock(["acond.tee=tdx", "mock_tdx.sysfs_mr=0", "mock_tdx.legacy_extend=0"]);
  try {
    const h = await vm.client.health({});
    assertEquals([h.tee, h.canMeasure], ["tdx", false]);
    assertMatch(h.teeNote, /extend NONE/);
    const signer = await makeSigner("ec-p384");
    const m = await signedManifest(signer, baseManifest());
    const err = await vm.client.addManifest(m).then(() => null, (e) => ConnectError.from(e));
    assertEquals(err?.code, Code.FailedPrecondition, String(err));
    assertMatch(err!.rawMessage, /cannot add images: this TEE cannot measure them \(.*extend NONE/);
    // Nothing was measured: the TDREPORT still comes, with RTMR3 zero and no image in the log.
    const rep = await vm.client.report({ nonceLo: 1n, nonceHi: 0n, requestType: 0 });
    assertEquals(rep.canMeasure, false);
    assertOk(
      !rep.mrlog[3].logs.some((l) => l.includes("AddManifest")),
      rep.mrlog[3].logs.join("\n"),
    );
    assertEquals(hex(rep.data.subarray(864, 912)), "00".repeat(48));
    assertEquals(
      hex(rep.data),
      hex(expectedTdReport(new Uint8Array(48), reportDataOf(rep.attestationData))),
    );
    const fin = await vm.client.finalize({}).then(() => null, (e) => ConnectError.from(e));
    assertEquals(fin?.code, Code.FailedPrecondition, String(fin));
    // … and the image was not stored.
    const id = await expectedImageId(signer, m.manifest);
    const gone = await vm.client.getManifest({ imageId: id }).then(() => null, (e) => e);
    assertOk(gone !== null, `image ${id} was stored`);
  } finally {
    await vm.kill();
  }
});
