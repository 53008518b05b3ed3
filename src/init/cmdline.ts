/**
 * acond's configuration from the kernel command line (/proc/cmdline). Pure: text in, config and
 * complaints out. ACON's keys keep ACON's names and defaults; an invalid value never stops the
 * boot (ACON made it fatal, which for PID 1 means a kernel panic): it is reported and the
 * documented default is used instead. See docs/boot.md for the table.
 */
import { type CgroupLimits, DEFAULT_LIMITS, MIB, type TeeChoice } from "../options.ts";
import type { HashAlg } from "../digest_boot.ts";
import type { Level } from "../util/log.ts";

export interface StaticIp {
  iface: string;
  /** Dotted quad. */
  address: string;
  prefix: number;
  gateway: string | null;
}

export type FatalAction = "poweroff" | "reboot";

export interface BootConfig {
  tcpPort: number;
  /** acond.tls: TLS with the attested certificate on the TCP listener (off: plain HTTP). */
  tls: boolean;
  vsockPort: number;
  /** Idle power-off after this many seconds without work; 0 disables. */
  timeout: number;
  tee: TeeChoice;
  interactive: boolean;
  /** acond.debug_shell: the console's `shell` command (a root shell; with interactive only). */
  debugShell: boolean;
  logLevel: Level;
  ip: StaticIp | null;
  minHash: HashAlg;
  /** What to do when acond cannot go on. */
  onFatal: FatalAction;
  /** Containers' cgroup limits (acond.memory_max, pids_max, reserve_memory, reserve_pids). */
  limits: CgroupLimits;
  /** The sim TEE's MRCONFIGID (acond.sim_mrconfigid; ignored by a real TEE): tests only. */
  simMrConfigId: Uint8Array | null;
  /** The API's connection limits (acond.max_connections, header_timeout, body_timeout). */
  conn: ConnSettings;
  /** Test hook: faults to inject after boot (`acond.test_fault=throw,reject,...`); see docs/boot.md. */
  testFaults: TestFault[];
}

/** Set keys override DEFAULT_CONN_LIMITS (src/api/conn_limits.ts). */
export interface ConnSettings {
  maxConnections?: number;
  headerTimeoutMs?: number;
  bodyIdleTimeoutMs?: number;
}

export const TEST_FAULTS = ["throw", "reject", "sigterm", "listener", "fds"] as const;
export type TestFault = typeof TEST_FAULTS[number];

export const BOOT_DEFAULTS: Readonly<BootConfig> = Object.freeze({
  tcpPort: 1025,
  tls: true,
  vsockPort: 1024,
  timeout: 180,
  tee: "auto",
  interactive: false,
  debugShell: false,
  logLevel: "info",
  ip: null,
  minHash: "sha384",
  onFatal: "poweroff",
  limits: DEFAULT_LIMITS,
  simMrConfigId: null,
  conn: {},
  testFaults: [],
});

/** The connection keys: [field, unit (ms per unit or 1), largest value]. */
const CONN_KEYS: Readonly<Record<string, [keyof ConnSettings, number, number]>> = {
  "acond.max_connections": ["maxConnections", 1, 65536],
  "acond.header_timeout": ["headerTimeoutMs", 1000, 3600],
  "acond.body_timeout": ["bodyIdleTimeoutMs", 1000, 3600],
};

/** The limit keys: [field, unit (bytes per unit), largest value in that unit]. */
export const LIMIT_KEYS: Readonly<Record<string, [keyof CgroupLimits, number, number]>> = {
  "acond.memory_max": ["memoryMax", MIB, 1 << 20],
  "acond.pids_max": ["pidsMax", 1, 1 << 22],
  "acond.reserve_memory": ["reserveMemory", MIB, 1 << 20],
  "acond.reserve_pids": ["reservePids", 1, 1 << 22],
};

export interface ParsedCmdline {
  config: BootConfig;
  /** One clear line per problem; the value named in it was replaced by its default. */
  problems: string[];
}

/**
 * Splits the command line the way the kernel does: whitespace separates parameters, double
 * quotes protect whitespace and are removed. Everything after a bare `--` belongs to init's argv.
 */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inQuote = false;
  let have = false;
  for (const ch of text) {
    if (ch === '"') {
      inQuote = !inQuote;
      have = true;
    } else if (!inQuote && /\s/.test(ch)) {
      if (have) out.push(cur);
      cur = "";
      have = false;
    } else {
      cur += ch;
      have = true;
    }
  }
  if (have) out.push(cur);
  const dashes = out.indexOf("--");
  return dashes >= 0 ? out.slice(0, dashes) : out;
}

const U32_MAX = 0xffff_ffff;

function parseUint(v: string | undefined, max: number): number | null {
  if (v === undefined || !/^[0-9]{1,10}$/.test(v)) return null;
  const n = Number(v);
  return n <= max ? n : null;
}

function parseBool(v: string | undefined): boolean | null {
  if (v === undefined) return true; // a bare flag switches it on
  if (["1", "y", "yes", "true", "on"].includes(v)) return true;
  if (["0", "n", "no", "false", "off"].includes(v)) return false;
  return null;
}

function parseIpv4(s: string): string | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m || m.slice(1).some((o) => Number(o) > 255 || (o.length > 1 && o.startsWith("0")))) {
    return null;
  }
  return s;
}

/** `IFACE:ADDR/PREFIX[:GATEWAY]`, e.g. `eth0:10.0.2.15/24:10.0.2.2`. */
export function parseStaticIp(v: string): StaticIp | null {
  const parts = v.split(":");
  if (parts.length < 2 || parts.length > 3) return null;
  const [iface, cidr, gw] = parts;
  // Interface names: at most 15 bytes (IFNAMSIZ-1), no '/' or whitespace.
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface)) return null;
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) return null;
  const address = parseIpv4(m[1]);
  const prefix = Number(m[2]);
  if (!address || prefix > 32) return null;
  let gateway: string | null = null;
  if (gw !== undefined && gw !== "") {
    gateway = parseIpv4(gw);
    if (!gateway) return null;
  }
  return { iface, address, prefix, gateway };
}

const LEVELS: readonly Level[] = ["error", "warn", "info", "debug"];
const TEES: readonly TeeChoice[] = ["auto", "tdx", "sim"];
const HASHES: readonly HashAlg[] = ["sha256", "sha384", "sha512"];

/** Keys ACON had that acond accepts and ignores (with a note). */
const IGNORED: Record<string, string> = {
  "acond.vsock_conn": "legacy; the vsock listener starts whenever a vsock device exists",
  "acond.openid_user": "OpenID login is not supported",
  "acond.https_proxy": "OpenID login is not supported",
};

export function parseCmdline(text: string): ParsedCmdline {
  const config: BootConfig = {
    ...BOOT_DEFAULTS,
    limits: { ...DEFAULT_LIMITS },
    conn: {},
    testFaults: [],
  };
  const problems: string[] = [];
  const bad = (key: string, value: string | undefined, want: string, def: unknown) =>
    problems.push(
      `invalid kernel cmdline parameter ${key}${
        value === undefined ? " (no value)" : `=${JSON.stringify(value)}`
      }: expected ${want}; using the default ${JSON.stringify(def)}`,
    );
  for (const token of tokenize(text)) {
    const eq = token.indexOf("=");
    const key = eq < 0 ? token : token.slice(0, eq);
    const value = eq < 0 ? undefined : token.slice(eq + 1);
    if (!key.startsWith("acond.")) continue;
    switch (key) {
      case "acond.tcp_port": {
        const n = parseUint(value, 65535);
        if (n === null || n === 0) bad(key, value, "a TCP port 1..65535", BOOT_DEFAULTS.tcpPort);
        else config.tcpPort = n;
        break;
      }
      case "acond.tls": {
        const b = parseBool(value);
        if (b === null) bad(key, value, "on|off", "on");
        else config.tls = b;
        break;
      }
      case "acond.vsock_port": {
        const n = parseUint(value, U32_MAX - 1); // VMADDR_PORT_ANY (-1) is not a port
        if (n === null) bad(key, value, "a vsock port 0..4294967294", BOOT_DEFAULTS.vsockPort);
        else config.vsockPort = n;
        break;
      }
      case "acond.timeout": {
        const n = parseUint(value, U32_MAX);
        if (n === null) bad(key, value, "seconds (0 disables)", BOOT_DEFAULTS.timeout);
        else config.timeout = n;
        break;
      }
      case "acond.tee":
        if (TEES.includes(value as TeeChoice)) config.tee = value as TeeChoice;
        else bad(key, value, TEES.join("|"), BOOT_DEFAULTS.tee);
        break;
      case "acond.interactive": {
        const b = parseBool(value);
        if (b === null) bad(key, value, "a boolean (1|0|true|false)", BOOT_DEFAULTS.interactive);
        else config.interactive = b;
        break;
      }
      case "acond.debug_shell": {
        const b = parseBool(value);
        if (b === null) bad(key, value, "a boolean (1|0|true|false)", BOOT_DEFAULTS.debugShell);
        else config.debugShell = b;
        break;
      }
      case "acond.log":
        if (LEVELS.includes(value as Level)) config.logLevel = value as Level;
        else bad(key, value, LEVELS.join("|"), BOOT_DEFAULTS.logLevel);
        break;
      case "acond.ip": {
        const ip = value === undefined ? null : parseStaticIp(value);
        if (!ip) bad(key, value, "IFACE:ADDR/PREFIX[:GATEWAY]", "no address");
        else config.ip = ip;
        break;
      }
      case "acond.min_hash":
        if (HASHES.includes(value as HashAlg)) config.minHash = value as HashAlg;
        else bad(key, value, HASHES.join("|"), BOOT_DEFAULTS.minHash);
        break;
      case "acond.on_fatal":
        if (value === "poweroff" || value === "reboot") config.onFatal = value;
        else bad(key, value, "poweroff|reboot", BOOT_DEFAULTS.onFatal);
        break;
      case "acond.memory_max":
      case "acond.pids_max":
      case "acond.reserve_memory":
      case "acond.reserve_pids": {
        const [field, unit, max] = LIMIT_KEYS[key];
        const n = parseUint(value, max);
        const what = unit === MIB ? "MiB" : "a count";
        if (n === null) bad(key, value, `${what} 0..${max}`, DEFAULT_LIMITS[field] / unit);
        else config.limits[field] = n * unit;
        break;
      }
      case "acond.sim_mrconfigid":
        // Right-padded with zeros to 48 bytes by the sim TEE, as --sim-mrconfigid in dev mode.
        if (value !== undefined && /^([0-9a-fA-F]{2}){1,48}$/.test(value)) {
          config.simMrConfigId = Uint8Array.from(
            value.match(/../g)!.map((h) => parseInt(h, 16)),
          );
        } else bad(key, value, "up to 96 hex digits", "none");
        break;
      case "acond.max_connections":
      case "acond.header_timeout":
      case "acond.body_timeout": {
        const [field, unit, max] = CONN_KEYS[key];
        const n = parseUint(value, max);
        const what = unit === 1 ? "a count" : "seconds";
        if (n === null || n === 0) bad(key, value, `${what} 1..${max}`, "the built-in default");
        else config.conn[field] = n * unit;
        break;
      }
      case "acond.test_fault": {
        const faults = (value ?? "").split(",");
        if (faults.every((f) => (TEST_FAULTS as readonly string[]).includes(f))) {
          config.testFaults = faults as TestFault[];
        } else bad(key, value, `a list of ${TEST_FAULTS.join("|")}`, []);
        break;
      }
      default:
        problems.push(
          key in IGNORED
            ? `kernel cmdline parameter ${key} ignored: ${IGNORED[key]}`
            : `unknown kernel cmdline parameter ${key} ignored`,
        );
    }
  }
  return { config, problems };
}
