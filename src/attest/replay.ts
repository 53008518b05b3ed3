/**
 * The RTMR3 event log's line vocabulary and its replay, shared by the daemon (eventlog.ts, which
 * measures) and every verifier (verify.ts, the CLI). Pure: no I/O, no TEE.
 */
import { sha384 } from "../digest_boot.ts";

export const INIT_LINE = "INIT sha384/" + "0".repeat(96);
export const ACON_DOMAIN = "github.com/intel/ACON";
export const FINALIZE_LINE = `${ACON_DOMAIN} Finalize`;
export const RTMR3 = 3;

export function addManifestLine(imageId: string): string {
  return `${ACON_DOMAIN} AddManifest ${imageId}`;
}

/** Replays lines from an all-zero RTMR: H = sha384(H || sha384(line)). */
export function replay(lines: readonly string[]): Uint8Array {
  let h: Uint8Array<ArrayBuffer> = new Uint8Array(48);
  const joined = new Uint8Array(96);
  for (const line of lines) {
    joined.set(h);
    joined.set(sha384(line), 48);
    h = sha384(joined);
  }
  return h;
}
