/** Daemon options: from the command line in dev mode, from /proc/cmdline in PID-1 mode. */
import type { HashAlg } from "./digest_boot.ts";

export type TeeChoice = "auto" | "tdx" | "sim";

export interface Options {
  /** State directory (`/run/acond` as PID 1, `--root` in dev mode). */
  root: string;
  /** Unix socket of the API. */
  socket: string;
  /** Extra TCP listener, host:port. */
  tcp: { hostname: string; port: number } | null;
  /**
   * TLS with the attested certificate on the TCP listener (attest/ratls/); false only with
   * acond.tls=off or dev --tls off (plain HTTP; recorded in the boot event). Default on.
   */
  tls?: boolean;
  /** Extra vsock listener port, any local CID (dev mode; as PID 1 init/vsock.ts starts it). */
  vsock?: number | null;
  tee: TeeChoice;
  /** The weakest certificate/layer hash accepted. */
  minHash: HashAlg;
  /** Running as the VM's init. */
  pid1: boolean;
  /** Maximum bytes of one unary request (AddBlob data included). */
  maxRequestBytes: number;
  logLevel: "error" | "warn" | "info" | "debug";
  /** Interactive console/pty access (measured in the boot event; a verifier may refuse it). */
  interactive?: boolean;
  /**
   * The console's root shell (acond.debug_shell, dev --debug-shell); only with interactive.
   * Measured as "debug_console":true in the boot event.
   */
  debugShell?: boolean;
  /**
   * The console the multiplexer runs on in interactive mode: /dev/console as PID 1, dev
   * --console PATH (a tty); absent: none.
   */
  console?: string;
  /** Containers' resource limits (measured in the boot event); DEFAULT_LIMITS when absent. */
  limits?: CgroupLimits;
  /**
   * API connection limits over the defaults (api/conn_limits.ts): connections per listener,
   * the request-header and body-pause deadlines. Dev flags; PID 1 uses the defaults.
   */
  conn?: { maxConnections?: number; headerTimeoutMs?: number; bodyIdleTimeoutMs?: number };
  /**
   * The launch configuration document as delivered (dev --launch-config FILE); applied only if
   * its SHA-384 is the TD's MRCONFIGID (attest/launch.ts).
   */
  launchConfig?: Uint8Array;
  /** The sim TEE's MRCONFIGID (dev --sim-mrconfigid HEX); zero when absent. */
  simMrConfigId?: Uint8Array;
  /** Set from an accepted launch configuration: only images of these signers (`alg/digest`). */
  trustedSigners?: string[];
  /** Hex SHA-384 of the accepted launch configuration (recorded in the boot event). */
  launchConfigDigest?: string;
  /** Why the launch configuration was refused: no image is accepted (fail closed). */
  launchRefused?: string;
  /** Where the ACPI tables are (the firmware's CCEL); default /sys/firmware/acpi/tables. */
  acpiTables?: string;
}

/** Containers' resource limits (container/cgroup.ts; bytes and counts, 0 = none per container). */
export interface CgroupLimits {
  /** memory.max of each container, bytes (0: only the containers' common limit). */
  memoryMax: number;
  /** pids.max of each container (0: only the containers' common limit). */
  pidsMax: number;
  /** Memory kept for acond: its memory.min, and what the containers together cannot use. */
  reserveMemory: number;
  /** Pids kept for acond: what the containers together cannot use. */
  reservePids: number;
}

export const MIB = 1024 * 1024;
export const DEFAULT_LIMITS: Readonly<CgroupLimits> = Object.freeze({
  memoryMax: 512 * MIB,
  pidsMax: 1024,
  reserveMemory: 128 * MIB,
  reservePids: 512,
});

/** The directory bind-mounted as every container's /shared: `/shared` as PID 1, else under the root. */
export function sharedDir(opts: Pick<Options, "pid1" | "root">): string {
  return opts.pid1 ? "/shared" : `${opts.root}/shared`;
}

export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024;
/** Largest WriteBlob chunk; the router always admits one, whatever --max-request says. */
export const MAX_CHUNK_BYTES = 8 << 20;

/** Parses HOST:PORT (IPv6 as [::1]:PORT). */
export function parseHostPort(s: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  if (!m) throw new Error(`expected HOST:PORT, got "${s}"`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`port out of range in "${s}"`);
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export function parseMinHash(s: string): HashAlg {
  if (s === "sha256" || s === "sha384" || s === "sha512") return s;
  throw new Error(`unknown hash "${s}" (expected sha256, sha384 or sha512)`);
}
