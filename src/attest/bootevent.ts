/**
 * The boot event: the first line after INIT, in the `domain operation content` form, recording
 * what a verifier needs to judge this boot: acond's version, the TEE backend and the
 * security-relevant options. Content is compact JSON with a fixed key order and no spaces.
 *   acond Boot {"version":"0.1.0","tee":"tdx","pid1":true,"interactive":false,"debug_console":false,"min_hash":"sha384"}
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
}

const SAFE = /^[0-9A-Za-z._+-]{1,64}$/;

export function bootEventLine(f: BootFacts): string {
  for (const [k, v] of [["version", f.version], ["tee", f.tee], ["min_hash", f.minHash]]) {
    if (!SAFE.test(v)) throw new Error(`boot event: bad ${k} "${v}"`);
  }
  const content = JSON.stringify({
    version: f.version,
    tee: f.tee,
    pid1: f.pid1,
    interactive: f.interactive,
    debug_console: f.debugConsole,
    min_hash: f.minHash,
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
    return {
      version: o.version,
      tee: o.tee,
      pid1: o.pid1,
      interactive: o.interactive,
      debugConsole: o.debug_console,
      minHash: o.min_hash,
    };
  } catch {
    return null;
  }
}
