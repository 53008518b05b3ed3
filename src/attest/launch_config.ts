/**
 * The launch configuration: acond's security settings in a JSON document the host delivers,
 * accepted only when its SHA-384 (of the exact bytes) equals the TD's MRCONFIGID, which the host
 * fixed at TD creation and the quote carries (docs/attestation.md, "Launch configuration"). Pure:
 * bytes in, settings or a reason out; the daemon (daemon.ts) applies it or fails closed.
 *
 *   {"version":1,"minHash":"sha384","trustedSigners":["sha384/<96 hex>"],"interactive":false,
 *    "limits":{"memoryMax":536870912,"pidsMax":1024,"reserveMemory":134217728,"reservePids":512},
 *    "listeners":{"tcp":"0.0.0.0:1025","vsock":1024}}
 *
 * Every key but `version` is optional (absent: acond's own setting stays); unknown keys are
 * refused, so a typo cannot silently weaken a setting.
 */
import { sha384, toHex } from "../digest_boot.ts";
import { type CgroupLimits, parseHostPort } from "../options.ts";
import type { HashAlg } from "../digest_boot.ts";
import { isDigestHex, isHashAlg } from "../digest_boot.ts";

/** Largest document accepted (fw_cfg files and the command line are small). */
export const MAX_LAUNCH_CONFIG_BYTES = 64 * 1024;

export interface LaunchConfig {
  minHash?: HashAlg;
  /** `alg/signerDigest` as image ids spell them: only images signed by these are accepted. */
  trustedSigners?: string[];
  interactive?: boolean;
  limits?: Partial<CgroupLimits>;
  /** The extra API listeners: TCP HOST:PORT and vsock port; null turns one off. */
  listeners?: { tcp?: { hostname: string; port: number } | null; vsock?: number | null };
}

const TOP_KEYS = ["version", "minHash", "trustedSigners", "interactive", "limits", "listeners"];
const LIMIT_KEYS = ["memoryMax", "pidsMax", "reserveMemory", "reservePids"] as const;
const LISTENER_KEYS = ["tcp", "vsock"];

export class LaunchConfigError extends Error {}

function fail(m: string): never {
  throw new LaunchConfigError(`launch configuration: ${m}`);
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) fail(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) fail(`unknown key "${k}" in ${what} (known: ${keys.join(", ")})`);
  }
}

/** Parses and validates the document (UTF-8 JSON); throws LaunchConfigError naming the fault. */
export function parseLaunchConfig(bytes: Uint8Array): LaunchConfig {
  if (bytes.length > MAX_LAUNCH_CONFIG_BYTES) fail(`larger than ${MAX_LAUNCH_CONFIG_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    fail(`not UTF-8 JSON: ${(e as Error).message}`);
  }
  const o = object(doc, "the document");
  onlyKeys(o, TOP_KEYS, "the document");
  if (o.version !== 1) fail(`version must be 1, got ${JSON.stringify(o.version)}`);
  const cfg: LaunchConfig = {};
  if (o.minHash !== undefined) {
    if (typeof o.minHash !== "string" || !isHashAlg(o.minHash)) {
      fail(`minHash must be sha256, sha384 or sha512, got ${JSON.stringify(o.minHash)}`);
    }
    cfg.minHash = o.minHash;
  }
  if (o.trustedSigners !== undefined) {
    if (!Array.isArray(o.trustedSigners)) fail("trustedSigners must be a list");
    cfg.trustedSigners = o.trustedSigners.map((s, i) => {
      const parts = typeof s === "string" ? s.split("/") : [];
      if (
        parts.length !== 2 || !isHashAlg(parts[0]) || !isDigestHex(parts[0], parts[1])
      ) {
        fail(`trustedSigners[${i}] must be "alg/signer digest hex" (as in image ids)`);
      }
      return s as string;
    });
    if (cfg.trustedSigners.length === 0) fail("trustedSigners must not be empty (omit it)");
  }
  if (o.interactive !== undefined) {
    if (typeof o.interactive !== "boolean") fail("interactive must be a boolean");
    cfg.interactive = o.interactive;
  }
  if (o.limits !== undefined) {
    const l = object(o.limits, "limits");
    onlyKeys(l, LIMIT_KEYS, "limits");
    cfg.limits = {};
    for (const k of LIMIT_KEYS) {
      if (l[k] === undefined) continue;
      const v = l[k];
      if (!Number.isSafeInteger(v) || (v as number) < 0) {
        fail(`limits.${k} must be a non-negative integer`);
      }
      cfg.limits[k] = v as number;
    }
  }
  if (o.listeners !== undefined) {
    const l = object(o.listeners, "listeners");
    onlyKeys(l, LISTENER_KEYS, "listeners");
    cfg.listeners = {};
    if (l.tcp !== undefined) {
      if (l.tcp === null) cfg.listeners.tcp = null;
      else if (typeof l.tcp !== "string") fail('listeners.tcp must be "HOST:PORT" or null');
      else {
        try {
          cfg.listeners.tcp = parseHostPort(l.tcp);
        } catch (e) {
          fail(`listeners.tcp: ${(e as Error).message}`);
        }
      }
    }
    if (l.vsock !== undefined) {
      const v = l.vsock;
      if (
        v !== null &&
        !(Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff_fffe)
      ) {
        fail("listeners.vsock must be a port (0..4294967294) or null");
      }
      cfg.listeners.vsock = v as number | null;
    }
  }
  return cfg;
}

/** The digest MRCONFIGID must hold: sha384 of the exact bytes (48 bytes: all of MRCONFIGID). */
export function launchConfigDigest(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return sha384(bytes);
}

/** Null when MRCONFIGID binds the document; else what an operator needs to see. */
export function bindingProblem(bytes: Uint8Array, mrConfigId: Uint8Array): string | null {
  const want = toHex(launchConfigDigest(bytes));
  const have = toHex(mrConfigId);
  if (want === have) return null;
  return `launch configuration refused: its SHA-384 ${want} is not the TD's MRCONFIGID ${have}`;
}

/** Does the list admit this signer (`alg/signerDigest`)? */
export function signerTrusted(
  trusted: readonly string[] | undefined,
  alg: string,
  signerDigest: string,
): boolean {
  return trusted === undefined || trusted.includes(`${alg}/${signerDigest}`);
}
