/** The parsed form of an ACON manifest (Image.md; behaviour file §4.1). */
import type { HashAlg } from "../digest.ts";

export interface Manifest {
  aconSpecVersion: number[];
  /** Bottom to top: `alg/hex` or `signer/alg/signerhex/alias`. */
  layers: string[];
  aliases: {
    contents: Record<string, string[]>;
    self: Record<string, string[]>;
  };
  entrypoint: string[];
  env: string[];
  workingDir: string;
  uids: number[];
  logFDs: number[];
  writableFS: boolean;
  noRestart: boolean;
  signals: number[];
  maxInstances: number;
  policy: { accepts: string[]; rejectUnaccepted: boolean };
}

/** An accepted, measured image. */
export interface LoadedImage {
  /** `alg/signerDigest/manifestDigest` */
  id: string;
  alg: HashAlg;
  signerDigest: string;
  manifestDigest: string;
  manifest: Manifest;
  /** The manifest bytes exactly as signed. */
  raw: Uint8Array;
  /** The certificate, DER. */
  certificate: Uint8Array;
}
