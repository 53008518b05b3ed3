/**
 * The boot event: the first line after INIT, in the `domain operation content` form, recording
 * what a verifier needs to judge this boot: acond's version, the TEE backend and the
 * security-relevant options. Content is compact JSON with a fixed key order and no spaces.
 *   acond Boot {"version":"0.1.0","tee":"tdx","pid1":true,"interactive":false,"debug_console":false,"min_hash":"sha384","limits":{...}}
 * `limits` (since the containers' cgroups; absent in older lines): each container's memory.max
 * (bytes) and pids.max (0: none of its own), what is reserved for acond, and which controllers
 * actually enforce them ("memory", "pids"; a verifier that requires limits checks this list).
 *   "limits":{"memory_max":536870912,"pids_max":1024,"reserve_memory":134217728,"reserve_pids":512,"enforced":["memory","pids"]}
 * `tls` (since the attested TLS listener; absent in older lines): whether the TCP listener serves
 * TLS with the attested certificate (false: plain HTTP, acond.tls=off).
 * `launch_config` (last; only when a launch configuration was accepted): its hex SHA-384, which is
 * the TD's MRCONFIGID (attest/launch.ts).
 */
export const ACOND_DOMAIN = "acond";
export const BOOT_OPERATION = "Boot";

export interface BootFacts {
  version: string;
  tee: string;
  pid1: boolean;
  /** Interactive build/console: a shell or exec with a pty can reach the TD. */
  interactive: boolean;
  /** A debug console (kernel or acond) is enabled. */
  debugConsole: boolean;
  minHash: string;
  /** The TCP listener serves TLS with the attested certificate (absent in older lines). */
  tls?: boolean;
  /** The containers' resource limits (docs/containers.md), when the line records them. */
  limits?: BootLimits;
  /** Hex SHA-384 of the launch configuration applied (= MRCONFIGID), when there was one. */
  launchConfig?: string;
}

export interface BootLimits {
  memoryMax: number;
  pidsMax: number;
  reserveMemory: number;
  reservePids: number;
  /** Controllers that enforce them. */
  enforced: string[];
}

const CONTROLLERS = ["memory", "pids"];

const SAFE = /^[0-9A-Za-z._+-]{1,64}$/;

export function bootEventLine(f: BootFacts): string {
  for (const [k, v] of [["version", f.version], ["tee", f.tee], ["min_hash", f.minHash]]) {
    if (!SAFE.test(v)) throw new Error(`boot event: bad ${k} "${v}"`);
  }
  if (f.limits && !validLimits(f.limits)) throw new Error("boot event: bad limits");
  if (f.launchConfig !== undefined && !/^[0-9a-f]{96}$/.test(f.launchConfig)) {
    throw new Error("boot event: bad launch_config");
  }
  const content = JSON.stringify({
    version: f.version,
    tee: f.tee,
    pid1: f.pid1,
    interactive: f.interactive,
    debug_console: f.debugConsole,
    min_hash: f.minHash,
    ...(f.tls !== undefined ? { tls: f.tls } : {}),
    ...(f.limits
      ? {
        limits: {
          memory_max: f.limits.memoryMax,
          pids_max: f.limits.pidsMax,
          reserve_memory: f.limits.reserveMemory,
          reserve_pids: f.limits.reservePids,
          enforced: f.limits.enforced,
        },
      }
      : {}),
    ...(f.launchConfig !== undefined ? { launch_config: f.launchConfig } : {}),
  });
  return `${ACOND_DOMAIN} ${BOOT_OPERATION} ${content}`;
}

/** Parses a boot event line; null when the line is not one (or is malformed). */
export function parseBootEvent(line: string): BootFacts | null {
  const prefix = `${ACOND_DOMAIN} ${BOOT_OPERATION} `;
  if (!line.startsWith(prefix)) return null;
  try {
    const o = JSON.parse(line.slice(prefix.length));
    const str = (v: unknown) => typeof v === "string" && SAFE.test(v);
    const bool = (v: unknown) => typeof v === "boolean";
    if (
      !str(o.version) || !str(o.tee) || !str(o.min_hash) || !bool(o.pid1) ||
      !bool(o.interactive) || !bool(o.debug_console)
    ) return null;
    const facts: BootFacts = {
      version: o.version,
      tee: o.tee,
      pid1: o.pid1,
      interactive: o.interactive,
      debugConsole: o.debug_console,
      minHash: o.min_hash,
    };
    if (o.tls !== undefined) {
      if (!bool(o.tls)) return null;
      facts.tls = o.tls;
    }
    if (o.launch_config !== undefined) {
      if (typeof o.launch_config !== "string" || !/^[0-9a-f]{96}$/.test(o.launch_config)) {
        return null;
      }
      facts.launchConfig = o.launch_config;
    }
    if (o.limits === undefined) return facts;
    const l = o.limits;
    const limits: BootLimits = {
      memoryMax: l?.memory_max,
      pidsMax: l?.pids_max,
      reserveMemory: l?.reserve_memory,
      reservePids: l?.reserve_pids,
      enforced: l?.enforced,
    };
    return validLimits(limits) ? { ...facts, limits } : null;
  } catch {
    return null;
  }
}

function validLimits(l: BootLimits): boolean {
  const n = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  return n(l.memoryMax) && n(l.pidsMax) && n(l.reserveMemory) && n(l.reservePids) &&
    Array.isArray(l.enforced) && l.enforced.every((c) => CONTROLLERS.includes(c)) &&
    new Set(l.enforced).size === l.enforced.length;
}
