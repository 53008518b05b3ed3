/**
 * The TDX backend (anchors §3): TDREPORT via /dev/tdx_guest GET_REPORT0; RTMR extend via the TSM
 * measurements sysfs file (Linux 6.16+) or the legacy ioctl; quotes via configfs-tsm, the legacy
 * GET_QUOTE ioctl, or vsock to the host QGS. Every root and the ioctl door are injectable so the
 * whole backend runs in unit tests on a temporary tree. A TD with no way to extend RTMR3 is
 * reported as canMeasure=false (acond then refuses images: fail closed).
 */
import type { Tee } from "../tee.ts";
import { AcondError, MSG } from "../../errors.ts";
import { SysError } from "../../sys/errors.ts";
import { log } from "../../util/log.ts";
import { TDR, TDREPORT_SIZE } from "../tdreport.ts";
import {
  decodeQgsQuoteResp,
  decodeQuoteBuf,
  decodeReportReq,
  encodeExtendReq,
  encodeQgsQuoteReq,
  encodeQuoteBuf,
  encodeReportReq,
  TDX_CMD_EXTEND_RTMR,
  TDX_CMD_EXTEND_RTMR_V3,
  TDX_CMD_GET_QUOTE,
  TDX_CMD_GET_REPORT0,
} from "./structs.ts";
import { denoTsmFs, type TsmFs, tsmQuote } from "./configfs.ts";
import { vsockQgs } from "./qgs.ts";
import { Bounded, DEFAULT_TEE_TIMEOUTS, TeeTimeout, type TeeTimeouts } from "./deadline.ts";

export interface TdxPaths {
  dev: string;
  /** The TSM measurements directory of the tdx_guest misc device (6.16+). */
  measurements: string;
  /** configfs-tsm report directory (configfs mounted). */
  tsmReport: string;
}

export const DEFAULT_TDX_PATHS: TdxPaths = {
  dev: "/dev/tdx_guest",
  measurements: "/sys/devices/virtual/misc/tdx_guest/measurements",
  tsmReport: "/sys/kernel/config/tsm/report",
};

export const O_WRONLY = 1;
export const O_RDWR = 2;
const ENOTTY = 25;
const EINVAL = 22;

/** The kernel door, injectable (default: src/sys/tdx.ts through the C shim). */
export interface TdxIo {
  ioctl(path: string, flags: number, req: bigint, arg: Uint8Array<ArrayBuffer>): number;
  quoteIoctl(path: string, req: bigint, buf: Uint8Array<ArrayBuffer>): Promise<number>;
  qgs(msg: Uint8Array): Promise<Uint8Array>;
  tsm: TsmFs;
  /** Makes the configfs-tsm directory reachable if the kernel has it (default: mountConfigfs). */
  prepareTsm?(tsmReport: string): Promise<void>;
}

export async function defaultTdxIo(): Promise<TdxIo> {
  const sys = await import("../../sys/tdx.ts");
  return {
    ioctl: sys.ioctlPath,
    quoteIoctl: sys.quoteIoctl,
    qgs: (m) => vsockQgs(m),
    tsm: denoTsmFs,
    prepareTsm: mountConfigfs,
  };
}

const CONFIGFS = "/sys/kernel/config";

/**
 * configfs-tsm lives on configfs, which only appears once the configfs module is loaded and is
 * mounted by nobody when acond is PID 1 (the early mounts run before the modules load). Without
 * this, a TD would never quote through configfs-tsm. Mounts it when the kernel has configfs
 * (the mount point exists) and nothing is mounted there yet; failures are logged, not fatal.
 */
export async function mountConfigfs(tsmReport: string): Promise<void> {
  if (!tsmReport.startsWith(`${CONFIGFS}/`) || await exists(tsmReport)) return;
  if (!(await exists(CONFIGFS))) return; // no configfs in this kernel
  try {
    const mounts = await Deno.readTextFile("/proc/mounts");
    if (mounts.split("\n").some((l) => l.split(" ")[1] === CONFIGFS)) return;
    const { mount, MS } = await import("../../sys/fs.ts");
    mount("configfs", CONFIGFS, "configfs", MS.NOSUID | MS.NODEV | MS.NOEXEC, null);
    log.info(`tdx: mounted configfs on ${CONFIGFS} for configfs-tsm quotes`);
  } catch (e) {
    log.warn(`tdx: cannot mount configfs on ${CONFIGFS}: ${(e as Error).message}`);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Whether this machine shows a TDX guest interface (what acond.tee=auto looks for). */
export async function tdxPresent(paths: TdxPaths = DEFAULT_TDX_PATHS): Promise<boolean> {
  return (await exists(paths.dev)) || (await exists(paths.measurements));
}

type ExtendPath = { kind: "sysfs" } | { kind: "ioctl"; req: bigint } | { kind: "none" };

export class TdxTee implements Tee {
  readonly kind = "tdx" as const;
  readonly canMeasure: boolean;
  readonly note: string;
  readonly paths: TdxPaths;
  readonly #io: TdxIo;
  readonly #extend: ExtendPath;
  readonly #tsm: boolean;
  readonly #bounded: { tsm: Bounded; ioctl: Bounded; qgs: Bounded };

  private constructor(
    paths: TdxPaths,
    io: TdxIo,
    extend: ExtendPath,
    tsm: boolean,
    timeouts: TeeTimeouts,
  ) {
    this.paths = paths;
    this.#io = io;
    this.#extend = extend;
    this.#tsm = tsm;
    this.#bounded = {
      tsm: new Bounded("configfs-tsm", timeouts.tsm),
      ioctl: new Bounded("GET_QUOTE ioctl", timeouts.ioctl),
      qgs: new Bounded("vsock QGS", timeouts.qgs),
    };
    this.canMeasure = extend.kind !== "none";
    const ext = extend.kind === "sysfs"
      ? `sysfs ${paths.measurements}/rtmr3:sha384`
      : extend.kind === "ioctl"
      ? `legacy ioctl 0x${extend.req.toString(16)}`
      : "NONE (no RTMR extend interface: kernel before 6.16?) so images are refused";
    const quote = tsm ? "configfs-tsm" : "legacy GET_QUOTE ioctl, else vsock QGS 2:4050";
    this.note = `TDX guest: report ${paths.dev}; extend ${ext}; quote ${quote}`;
  }

  /**
   * Probes the interfaces; throws when there is no TDX guest interface at all. `timeouts` bound
   * each quote provider (deadline.ts).
   */
  static async create(
    paths: TdxPaths = DEFAULT_TDX_PATHS,
    io?: TdxIo,
    timeouts: TeeTimeouts = DEFAULT_TEE_TIMEOUTS,
  ): Promise<TdxTee> {
    const dev = await exists(paths.dev);
    const sysfs = await exists(`${paths.measurements}/rtmr3:sha384`);
    if (!dev && !sysfs) {
      throw new AcondError(
        "failed_precondition",
        `no TDX guest interface (${paths.dev}, ${paths.measurements})`,
      );
    }
    io ??= await defaultTdxIo();
    await io.prepareTsm?.(paths.tsmReport);
    const tsm = await exists(paths.tsmReport);
    let extend: ExtendPath = { kind: "none" };
    if (sysfs) extend = { kind: "sysfs" };
    else if (dev) {
      // Probe the legacy ioctl without extending anything: index 255 is invalid, so a driver that
      // knows the request answers EINVAL, and one that does not answers ENOTTY.
      for (const req of [TDX_CMD_EXTEND_RTMR, TDX_CMD_EXTEND_RTMR_V3]) {
        try {
          io.ioctl(paths.dev, O_WRONLY, req, encodeExtendReq(255, new Uint8Array(48)));
          log.warn(`tdx: extend probe 0x${req.toString(16)} accepted RTMR index 255`);
        } catch (e) {
          if (e instanceof SysError && e.errno === EINVAL) {
            extend = { kind: "ioctl", req };
            break;
          }
          if (!(e instanceof SysError && e.errno === ENOTTY)) {
            log.warn(`tdx: extend probe 0x${req.toString(16)}: ${(e as Error).message}`);
          }
        }
      }
    }
    return new TdxTee(paths, io, extend, tsm, timeouts);
  }

  async extendRtmr(index: number, digest: Uint8Array): Promise<void> {
    if (!Number.isInteger(index) || index < 0 || index > 3 || digest.length !== 48) {
      throw new AcondError("internal", `bad RTMR extend: index ${index}, ${digest.length} bytes`);
    }
    const ext = this.#extend;
    if (ext.kind === "sysfs") {
      // One write of exactly 48 raw bytes at offset 0 is one extend.
      await Deno.writeFile(
        `${this.paths.measurements}/rtmr${index}:sha384`,
        digest as Uint8Array<ArrayBuffer>,
      );
    } else if (ext.kind === "ioctl") {
      this.#io.ioctl(this.paths.dev, O_WRONLY, ext.req, encodeExtendReq(index, digest));
    } else {
      throw new AcondError("failed_precondition", `${MSG.attestationNotSupported}: ${this.note}`);
    }
  }

  async readRtmr(index: number): Promise<Uint8Array> {
    if (!Number.isInteger(index) || index < 0 || index > 3) {
      throw new AcondError("internal", `bad RTMR index ${index}`);
    }
    const file = `${this.paths.measurements}/rtmr${index}:sha384`;
    if (await exists(file)) {
      const v = await Deno.readFile(file);
      if (v.length === 48) return v;
    }
    const r = await this.report(new Uint8Array(64));
    return r.slice(TDR.rtmr0 + 48 * index, TDR.rtmr0 + 48 * (index + 1));
  }

  report(reportData: Uint8Array): Promise<Uint8Array> {
    try {
      const req = encodeReportReq(reportData);
      this.#io.ioctl(this.paths.dev, O_RDWR, TDX_CMD_GET_REPORT0, req);
      return Promise.resolve(decodeReportReq(req));
    } catch (e) {
      return Promise.reject(this.#unsupported("TDREPORT", e));
    }
  }

  async quote(reportData: Uint8Array): Promise<Uint8Array> {
    const failures: string[] = [];
    const timedOut: string[] = [];
    const failed = (what: string, e: unknown) => {
      if (e instanceof TeeTimeout) timedOut.push(e.message);
      else failures.push(`${what}: ${(e as Error).message}`);
    };
    const b = this.#bounded;
    if (this.#tsm) {
      try {
        return await b.tsm.run(() =>
          tsmQuote(this.paths.tsmReport, reportData, { fs: this.#io.tsm })
        );
      } catch (e) {
        failed("configfs-tsm", e);
      }
    }
    let tdreport: Uint8Array;
    try {
      tdreport = await this.report(reportData);
    } catch (e) {
      throw this.#unsupported("quote", e);
    }
    const msg = encodeQgsQuoteReq(tdreport);
    try {
      const buf = encodeQuoteBuf(msg);
      await b.ioctl.run(() => this.#io.quoteIoctl(this.paths.dev, TDX_CMD_GET_QUOTE, buf));
      return decodeQgsQuoteResp(decodeQuoteBuf(buf));
    } catch (e) {
      failed("GET_QUOTE ioctl", e);
    }
    try {
      return decodeQgsQuoteResp(await b.qgs.run(() => this.#io.qgs(msg)));
    } catch (e) {
      failed("vsock QGS", e);
    }
    log.warn(`tdx quote failed: ${[...timedOut, ...failures].join("; ")}`);
    if (timedOut.length > 0) {
      // A provider exists but does not answer: say so (a retry may work once the host recovers).
      throw new AcondError(
        "deadline_exceeded",
        `Quote not available: the TEE did not answer (${timedOut.join("; ")})`,
      );
    }
    throw new AcondError("failed_precondition", MSG.attestationNotSupported);
  }

  #unsupported(what: string, e: unknown): Error {
    if (e instanceof AcondError) return e;
    log.warn(`tdx ${what}: ${(e as Error).message}`);
    return new AcondError("failed_precondition", MSG.attestationNotSupported, { cause: e });
  }
}

export { TDREPORT_SIZE };
