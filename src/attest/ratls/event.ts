/**
 * The TlsKey event: the RTMR3 log line binding the TLS listeners' key to this boot, measured
 * before the certificate's quote (./identity.ts). `domain operation content` form, compact JSON:
 *   acond TlsKey {"alg":"ecdsa-p384","spki_sha384":"<96 hex digits>"}
 * Pure; shared with verifiers.
 */
import { ACOND_DOMAIN } from "../bootevent.ts";

export const TLS_KEY_OPERATION = "TlsKey";
const PREFIX = `${ACOND_DOMAIN} ${TLS_KEY_OPERATION} `;

export function tlsKeyLine(spkiSha384Hex: string): string {
  if (!/^[0-9a-f]{96}$/.test(spkiSha384Hex)) throw new Error("TlsKey: bad SPKI hash");
  return `${PREFIX}${JSON.stringify({ alg: "ecdsa-p384", spki_sha384: spkiSha384Hex })}`;
}

/** The SPKI hash a TlsKey line records, or null when the line is not one (or malformed). */
export function parseTlsKeyLine(line: string): string | null {
  if (!line.startsWith(PREFIX)) return null;
  try {
    const o = JSON.parse(line.slice(PREFIX.length));
    return o && o.alg === "ecdsa-p384" && typeof o.spki_sha384 === "string" &&
        /^[0-9a-f]{96}$/.test(o.spki_sha384) && line === tlsKeyLine(o.spki_sha384)
      ? o.spki_sha384
      : null;
  } catch {
    return null;
  }
}
