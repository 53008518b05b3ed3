/**
 * The tdx backend without TDX: golden bytes for every kernel struct and message, configfs-tsm
 * against a temporary tree that behaves like configfs, and TdxTee with injected roots and ioctls.
 */
import {
  assertEquals,
  assertMatch,
  assertOk,
  assertRejects,
  assertThrows,
} from "../../helpers/assert.ts";
import {
  decodeQgsQuoteResp,
  decodeQuoteBuf,
  decodeReportReq,
  encodeExtendReq,
  encodeQgsQuoteReq,
  encodeQgsQuoteResp,
  encodeQuoteBuf,
  encodeReportReq,
  TDX_CMD_EXTEND_RTMR,
  TDX_CMD_EXTEND_RTMR_V3,
  TDX_CMD_GET_QUOTE,
  TDX_CMD_GET_REPORT0,
} from "../../../src/attest/tdx/structs.ts";
import { denoTsmFs, type TsmFs, tsmQuote } from "../../../src/attest/tdx/configfs.ts";
import { type TdxIo, type TdxPaths, TdxTee } from "../../../src/attest/tdx/backend.ts";
import { qgsExchange } from "../../../src/attest/tdx/qgs.ts";
import { selectTee } from "../../../src/attest/select.ts";
import { EventLog } from "../../../src/attest/eventlog.ts";
import { SimTee } from "../../../src/attest/sim.ts";
import { SysError } from "../../../src/sys/errors.ts";
import { digest, fromHex, toHex } from "../../../src/digest.ts";

const seq = (n: number, start = 0) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 255);

Deno.test("ioctl request numbers", () => {
  assertEquals(TDX_CMD_GET_REPORT0, 0xC4405401n);
  assertEquals(TDX_CMD_EXTEND_RTMR, 0x80315403n);
  assertEquals(TDX_CMD_EXTEND_RTMR_V3, 0x40315403n);
  assertEquals(TDX_CMD_GET_QUOTE, 0x80105404n);
});

Deno.test("GET_REPORT0 and EXTEND_RTMR structs: golden bytes", () => {
  const req = encodeReportReq(seq(64));
  assertEquals(req.length, 1088);
  assertEquals(toHex(req.subarray(0, 64)), toHex(seq(64)));
  assertEquals(toHex(req.subarray(64)), "00".repeat(1024));
  req.set(seq(1024, 7), 64);
  assertEquals(toHex(decodeReportReq(req)), toHex(seq(1024, 7)));
  assertThrows(() => encodeReportReq(seq(63)));
  const ext = encodeExtendReq(3, seq(48, 0xa0));
  assertEquals(toHex(ext), toHex(seq(48, 0xa0)) + "03");
  assertThrows(() => encodeExtendReq(3, seq(47)));
  assertThrows(() => encodeExtendReq(256, seq(48)));
});

Deno.test("QGS GET_QUOTE_REQ and the legacy quote buffer: golden bytes", () => {
  const tdr = seq(1024, 3);
  const msg = encodeQgsQuoteReq(tdr);
  assertEquals(msg.length, 1048);
  // major 1, minor 0, type 0, size 1048 (0x418), error 0; report_size 1024, id_list_size 0.
  assertEquals(
    toHex(msg.subarray(0, 24)),
    "0100" + "0000" + "00000000" + "18040000" + "00000000" + "00040000" + "00000000",
  );
  assertEquals(toHex(msg.subarray(24)), toHex(tdr));
  const buf = encodeQuoteBuf(msg);
  assertEquals(buf.length, 0x4000);
  // version 1, status 0, in_len 1052 (0x41c), out_len 0, BE length 1048, message at 28.
  assertEquals(
    toHex(buf.subarray(0, 28)),
    "0100000000000000" + "0000000000000000" + "1c040000" + "00000000" + "00000418",
  );
  assertEquals(toHex(buf.subarray(28, 28 + 1048)), toHex(msg));
  assertEquals(toHex(buf.subarray(28 + 1048)), "00".repeat(0x4000 - 28 - 1048));
  assertThrows(() => encodeQuoteBuf(new Uint8Array(0x4000 - 27)), /too large/);
});

Deno.test("QGS GET_QUOTE_RESP and quote buffer decoding, hostile variants refused", () => {
  const quote = seq(300, 9);
  const resp = encodeQgsQuoteResp(quote, seq(5, 0xf0));
  assertEquals(
    toHex(resp.subarray(0, 24)),
    "0100" + "0000" + "01000000" + "49010000" + "00000000" + "05000000" + "2c010000",
  );
  assertEquals(toHex(decodeQgsQuoteResp(resp)), toHex(quote));
  const mutate = (off: number, v: number) => {
    const m = resp.slice();
    new DataView(m.buffer).setUint32(off, v, true);
    return m;
  };
  assertThrows(() => decodeQgsQuoteResp(mutate(0, 2)), /major/);
  assertThrows(() => decodeQgsQuoteResp(mutate(4, 0)), /type/);
  assertThrows(() => decodeQgsQuoteResp(mutate(8, 10)), /size/);
  assertThrows(() => decodeQgsQuoteResp(mutate(12, 0x12001)), /QGS error 0x12001/);
  assertThrows(() => decodeQgsQuoteResp(mutate(20, 301)), /size/);
  assertThrows(() => decodeQgsQuoteResp(resp.subarray(0, 20)), /too short/);
  assertThrows(() => decodeQgsQuoteResp(encodeQgsQuoteResp(new Uint8Array())), /empty/);
  // The ioctl buffer after the driver filled it in.
  const filled = (status: bigint, outLen: number, beLen: number) => {
    const b = new Uint8Array(0x4000);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, 1n, true);
    dv.setBigUint64(8, status, true);
    dv.setUint32(20, outLen, true);
    dv.setUint32(24, beLen, false);
    b.set(resp, 28);
    return b;
  };
  assertEquals(toHex(decodeQuoteBuf(filled(0n, resp.length + 4, resp.length))), toHex(resp));
  assertThrows(
    () => decodeQuoteBuf(filled(0xffffffffffffffffn, resp.length + 4, resp.length)),
    /in flight/,
  );
  assertThrows(
    () => decodeQuoteBuf(filled(0x8000000000000001n, resp.length + 4, resp.length)),
    /unavailable/,
  );
  assertThrows(() => decodeQuoteBuf(filled(0n, 3, 0)), /out_len/);
  assertThrows(() => decodeQuoteBuf(filled(0n, 0x5000, 0x4ffc)), /out_len/);
  assertThrows(
    () => decodeQuoteBuf(filled(0n, resp.length + 4, resp.length - 1)),
    /does not match/,
  );
});

/** A temporary tree that behaves like configfs-tsm: mkdir makes the attributes, inblob bumps
 * generation and produces outblob, rmdir removes the item. */
class FakeConfigfs implements TsmFs {
  busy = 0;
  provider = "tdx_guest\n";
  /** Simulates another writer between our inblob write and our generation re-read. */
  interloper = false;
  made: string[] = [];
  async mkdir(p: string) {
    await Deno.mkdir(p);
    this.made.push(p);
    await Deno.writeTextFile(`${p}/provider`, this.provider);
    await Deno.writeTextFile(`${p}/generation`, "0\n");
  }
  async rmdir(p: string) {
    await Deno.remove(p, { recursive: true });
  }
  async read(p: string) {
    if (p.endsWith("/outblob") && this.busy > 0) {
      this.busy--;
      throw Object.assign(new Error("Device or resource busy"), { code: "EBUSY" });
    }
    return await denoTsmFs.read(p);
  }
  async write(p: string, d: Uint8Array) {
    await denoTsmFs.write(p, d);
    if (p.endsWith("/inblob")) {
      const dir = p.slice(0, -"/inblob".length);
      const g = Number(await Deno.readTextFile(`${dir}/generation`)) + (this.interloper ? 2 : 1);
      await Deno.writeTextFile(`${dir}/generation`, `${g}\n`);
      await Deno.writeFile(`${dir}/outblob`, new Uint8Array([0x51, ...d]));
    }
  }
}

Deno.test("configfs-tsm: quote, EBUSY retry, provider and generation checks, always cleaned up", async () => {
  const root = await Deno.makeTempDir();
  const fs = new FakeConfigfs();
  const noSleep = () => Promise.resolve();
  const rd = seq(64, 1);
  const left = () => [...Deno.readDirSync(root)].length;
  assertEquals(toHex(await tsmQuote(root, rd, { fs, sleep: noSleep })), "51" + toHex(rd));
  assertEquals(left(), 0);
  fs.busy = 3;
  assertEquals(toHex(await tsmQuote(root, rd, { fs, sleep: noSleep })), "51" + toHex(rd));
  fs.busy = 100;
  await assertRejects(tsmQuote(root, rd, { fs, sleep: noSleep, busyRetries: 5 }), /busy/);
  assertEquals(left(), 0);
  fs.busy = 0;
  fs.interloper = true;
  await assertRejects(tsmQuote(root, rd, { fs, sleep: noSleep }), /generation went 0 → 2/);
  fs.interloper = false;
  fs.provider = "sev_guest\n";
  await assertRejects(tsmQuote(root, rd, { fs, sleep: noSleep }), /provider is "sev_guest"/);
  assertEquals(left(), 0);
  await assertRejects(tsmQuote(root, seq(32), { fs }), /64 bytes/);
  // Each request used its own directory.
  assertEquals(new Set(fs.made).size, fs.made.length);
  await Deno.remove(root, { recursive: true });
});

/** The mock TDX module's behaviour as an injected ioctl door. */
class FakeTdx {
  rtmr = [0, 1, 2, 3].map(() => new Uint8Array(48));
  legacy: bigint | null = TDX_CMD_EXTEND_RTMR;
  reportFails = false;
  quoteResp: Uint8Array | null = null;
  qgsResp: Uint8Array | null = null;
  calls: string[] = [];
  io(fs: TsmFs): TdxIo {
    return {
      ioctl: (path, flags, req, arg) => {
        this.calls.push(`${path} ${flags} 0x${req.toString(16)}`);
        if (req === TDX_CMD_GET_REPORT0) {
          if (this.reportFails) throw new SysError(2, "open", path);
          const r = new SimTee().buildReport(arg.slice(0, 64));
          for (let i = 0; i < 4; i++) r.set(this.rtmr[i], 720 + 48 * i);
          arg.set(r, 64);
          return 0;
        }
        if (req === this.legacy) {
          const idx = arg[48];
          if (idx > 3) throw new SysError(22, "ioctl", path);
          const j = new Uint8Array(96);
          j.set(this.rtmr[idx]);
          j.set(arg.subarray(0, 48), 48);
          this.rtmr[idx] = digest("sha384", j);
          return 0;
        }
        throw new SysError(25, "ioctl", path);
      },
      quoteIoctl: (path, req, buf) => {
        this.calls.push(`quote ${path} 0x${req.toString(16)}`);
        if (!this.quoteResp) return Promise.reject(new SysError(25, "ioctl", path));
        const dv = new DataView(buf.buffer);
        dv.setUint32(20, this.quoteResp.length + 4, true);
        dv.setUint32(24, this.quoteResp.length, false);
        buf.set(this.quoteResp, 28);
        return Promise.resolve(0);
      },
      qgs: (msg) => {
        this.calls.push(`qgs ${msg.length}`);
        return this.qgsResp ? Promise.resolve(this.qgsResp) : Promise.reject(new Error("no vsock"));
      },
      tsm: fs,
    };
  }
}

async function tree(o: { dev?: boolean; sysfs?: boolean; tsm?: boolean }) {
  const root = await Deno.makeTempDir();
  const paths: TdxPaths = {
    dev: `${root}/dev/tdx_guest`,
    measurements: `${root}/sys/measurements`,
    tsmReport: `${root}/config/tsm/report`,
  };
  if (o.dev) {
    await Deno.mkdir(`${root}/dev`);
    await Deno.writeFile(paths.dev, new Uint8Array());
  }
  if (o.sysfs) {
    await Deno.mkdir(paths.measurements, { recursive: true });
    for (let i = 0; i < 4; i++) {
      await Deno.writeFile(`${paths.measurements}/rtmr${i}:sha384`, new Uint8Array(48));
    }
  }
  if (o.tsm) await Deno.mkdir(paths.tsmReport, { recursive: true });
  return { root, paths, done: () => Deno.remove(root, { recursive: true }) };
}

Deno.test("TdxTee on 6.16+: extends through the sysfs file (48 raw bytes), reads it back", async () => {
  const t = await tree({ dev: true, sysfs: true });
  const fake = new FakeTdx();
  const tee = await TdxTee.create(t.paths, fake.io(new FakeConfigfs()));
  assertEquals([tee.kind, tee.canMeasure], ["tdx", true]);
  assertMatch(tee.note, /extend sysfs .*rtmr3:sha384/);
  const v = seq(48, 0x30);
  await tee.extendRtmr(3, v);
  assertEquals(toHex(await Deno.readFile(`${t.paths.measurements}/rtmr3:sha384`)), toHex(v));
  assertEquals(toHex(await tee.readRtmr(3)), toHex(v));
  assertEquals(fake.calls, []); // no ioctl used
  await t.done();
});

Deno.test("TdxTee with the legacy extend ioctl: probed with an invalid index, then used", async () => {
  const t = await tree({ dev: true });
  const fake = new FakeTdx();
  const tee = await TdxTee.create(t.paths, fake.io(new FakeConfigfs()));
  assertEquals(tee.canMeasure, true);
  assertMatch(tee.note, /legacy ioctl 0x80315403/);
  assertEquals(fake.rtmr[3], new Uint8Array(48)); // the probe extended nothing
  const log = new EventLog(`${t.root}/rtmr/rtmr3.log`, tee);
  await log.measure("x Y z");
  assertEquals(toHex(await tee.readRtmr(3)), toHex(fake.rtmr[3]));
  const { replay } = await import("../../../src/attest/eventlog.ts");
  assertEquals(toHex(fake.rtmr[3]), toHex(replay(log.lines)));
  // The V3 request number is found when the first is unknown.
  fake.legacy = TDX_CMD_EXTEND_RTMR_V3;
  assertMatch((await TdxTee.create(t.paths, fake.io(new FakeConfigfs()))).note, /0x40315403/);
  await t.done();
});

Deno.test("TdxTee that cannot measure (stock 6.12): canMeasure=false, measuring fails closed", async () => {
  const t = await tree({ dev: true, tsm: true });
  const fake = new FakeTdx();
  fake.legacy = null;
  const tee = await TdxTee.create(t.paths, fake.io(new FakeConfigfs()));
  assertEquals(tee.canMeasure, false);
  assertMatch(tee.note, /NONE/);
  const e = await tee.extendRtmr(3, seq(48)).then(() => null, (x) => x);
  assertEquals(e?.code, "failed_precondition");
  const log = new EventLog(`${t.root}/rtmr/rtmr3.log`, tee);
  const e2 = await log.measure("x Y z").then(() => null, (x) => x);
  assertEquals(e2?.code, "failed_precondition");
  assertEquals(fake.rtmr[3], new Uint8Array(48));
  // Reports still work (a verifier sees an empty log and canMeasure=false).
  assertEquals((await tee.report(seq(64))).length, 1024);
  await t.done();
});

Deno.test("TdxTee quotes: configfs-tsm first, then the legacy ioctl, then vsock QGS, else FailedPrecondition", async () => {
  const rd = seq(64, 5);
  // configfs-tsm present.
  let t = await tree({ dev: true, sysfs: true, tsm: true });
  let fake = new FakeTdx();
  let tee = await TdxTee.create(t.paths, fake.io(new FakeConfigfs()));
  assertEquals(toHex(await tee.quote(rd)), "51" + toHex(rd));
  await t.done();
  // No configfs: the legacy ioctl with the QGS message.
  t = await tree({ dev: true, sysfs: true });
  fake = new FakeTdx();
  fake.quoteResp = encodeQgsQuoteResp(seq(100, 1));
  tee = await TdxTee.create(t.paths, fake.io(new FakeConfigfs()));
  assertEquals(toHex(await tee.quote(rd)), toHex(seq(100, 1)));
  // The ioctl is unknown: vsock QGS gets the same message.
  fake.quoteResp = null;
  fake.qgsResp = encodeQgsQuoteResp(seq(50, 2));
  assertEquals(toHex(await tee.quote(rd)), toHex(seq(50, 2)));
  assertOk(fake.calls.includes("qgs 1048"));
  // Nothing works: Attestation not supported.
  fake.qgsResp = null;
  let e = await tee.quote(rd).then(() => null, (x) => x);
  assertEquals([e?.code, e?.message], ["failed_precondition", "Attestation not supported"]);
  // No device answering GET_REPORT0.
  fake.reportFails = true;
  e = await tee.report(rd).then(() => null, (x) => x);
  assertEquals([e?.code, e?.message], ["failed_precondition", "Attestation not supported"]);
  await t.done();
});

Deno.test("selectTee: auto picks tdx only when an interface exists; tdx never falls back to sim", async () => {
  const none = await tree({});
  const fake = new FakeTdx();
  const io = fake.io(new FakeConfigfs());
  const auto = await selectTee("auto", none.paths, io);
  assertEquals(auto.kind, "sim");
  assertMatch(auto.note, /auto: no TDX guest interface/);
  const e = await selectTee("tdx", none.paths, io).then(() => null, (x) => x);
  assertEquals(e?.code, "failed_precondition");
  assertMatch(e.message, /refusing to fall back to the simulator/);
  assertEquals((await selectTee("sim", none.paths, io)).kind, "sim");
  const dev = await tree({ dev: true });
  assertEquals((await selectTee("auto", dev.paths, io)).kind, "tdx");
  assertEquals((await selectTee("tdx", dev.paths, io)).kind, "tdx");
  await none.done();
  await dev.done();
});

Deno.test("QGS over a stream: 4-byte big-endian framing both ways (fake QGS on a Unix socket)", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/qgs.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const quote = seq(200, 4);
  const server = (async () => {
    const c = await listener.accept();
    const hdr = new Uint8Array(4);
    let n = 0;
    while (n < 4) n += (await c.read(hdr.subarray(n)))!;
    const len = new DataView(hdr.buffer).getUint32(0, false);
    const msg = new Uint8Array(len);
    n = 0;
    while (n < len) n += (await c.read(msg.subarray(n)))!;
    const resp = encodeQgsQuoteResp(quote);
    const out = new Uint8Array(4 + resp.length);
    new DataView(out.buffer).setUint32(0, resp.length, false);
    out.set(resp, 4);
    await c.write(out);
    c.close();
    return msg;
  })();
  const msg = encodeQgsQuoteReq(seq(1024));
  const resp = await qgsExchange(await Deno.connect({ transport: "unix", path }), msg);
  assertEquals(toHex(decodeQgsQuoteResp(resp)), toHex(quote));
  assertEquals(toHex(await server), toHex(msg));
  listener.close();
  await Deno.remove(dir, { recursive: true });
  assertEquals(fromHex("00").length, 1);
});

Deno.test("the real shim door: ioctls on a non-TDX file fail with errno, never crash", async () => {
  const { ioctlPath, quoteIoctl, O_RDWR } = await import("../../../src/sys/tdx.ts");
  const req = encodeReportReq(seq(64));
  const e = (() => {
    try {
      ioctlPath("/dev/null", O_RDWR, TDX_CMD_GET_REPORT0, req);
      return null;
    } catch (x) {
      return x as SysError;
    }
  })();
  assertOk(e instanceof SysError);
  assertEquals(e.errno, 25); // ENOTTY: /dev/null knows no TDX request
  assertThrows(
    () => ioctlPath("/nonexistent/tdx_guest", O_RDWR, TDX_CMD_GET_REPORT0, req),
    /ENOENT/,
  );
  const q = await quoteIoctl(
    "/dev/null",
    TDX_CMD_GET_QUOTE,
    encodeQuoteBuf(encodeQgsQuoteReq(seq(1024))),
  )
    .then(() => null, (x) => x);
  assertEquals(q?.errno, 25);
});

Deno.test("a quote provider that never answers: a clear error within the deadline, then fail fast", async () => {
  const t = await tree({ dev: true, sysfs: true, tsm: true });
  const fake = new FakeTdx();
  // configfs-tsm whose outblob read never returns (a host that never answers the GetQuote).
  const fs = new FakeConfigfs();
  const hang = () => new Promise<never>(() => {});
  let outblobReads = 0;
  const stuckFs: TsmFs = {
    ...fs,
    mkdir: (p) => fs.mkdir(p),
    rmdir: (p) => fs.rmdir(p),
    write: (p, d) => fs.write(p, d),
    read: (p) => p.endsWith("/outblob") ? (outblobReads++, hang()) : fs.read(p),
  };
  const io = { ...fake.io(stuckFs), quoteIoctl: hang, qgs: hang };
  const tee = await TdxTee.create(t.paths, io, { tsm: 200, ioctl: 100, qgs: 100 });
  const rd = seq(64, 3);
  const e = await tee.quote(rd).then(() => null, (x) => x);
  assertEquals(e?.code, "deadline_exceeded");
  assertMatch(
    e.message,
    /^Quote not available: the TEE did not answer \(configfs-tsm: no answer within 0\.2 s; GET_QUOTE ioctl: no answer within 0\.1 s; vsock QGS: no answer within 0\.1 s\)$/,
  );
  assertEquals(outblobReads, 1);
  // While the stuck calls have not returned, the providers are not asked again: the next
  // request fails at once instead of queueing behind them.
  const again = await tee.quote(rd).then(() => null, (x) => x);
  assertEquals(again?.code, "deadline_exceeded");
  assertMatch(again.message, /configfs-tsm: still stuck on an earlier request/);
  assertMatch(again.message, /vsock QGS: still stuck on an earlier request/);
  assertEquals(outblobReads, 1);
  // TDREPORTs (a TDCALL, no host involved) still work.
  assertEquals((await tee.report(rd)).length, 1024);
  await t.done();
});

Deno.test("Bounded: a late answer clears the stuck state; a fast one is returned as is", async () => {
  const { Bounded, TeeTimeout } = await import("../../../src/attest/tdx/deadline.ts");
  const b = new Bounded("test provider", 50);
  assertEquals(await b.run(() => Promise.resolve(7)), 7);
  await assertRejects(() => b.run(() => Promise.reject(new Error("boom"))), /boom/);
  let release!: () => void;
  const late = new Promise<number>((r) => release = () => r(1));
  const e = await b.run(() => late).then(() => null, (x) => x);
  assertOk(e instanceof TeeTimeout);
  assertEquals(b.stuck, true);
  await assertRejects(() => b.run(() => Promise.resolve(2)), /still stuck/);
  release();
  await late;
  await Promise.resolve();
  assertEquals(b.stuck, false);
  assertEquals(await b.run(() => Promise.resolve(3)), 3);
});
