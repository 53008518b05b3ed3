/**
 * The pod's data model as every concern sees it: the parsed manifest and the loaded image (the
 * image module verifies and measures them), the part of each container that attestation reads
 * and the container socket writes (the container module keeps the rest, container/types.ts, and
 * owns its lifecycle), and the pod state that holds them. Types only.
 */
import type { HashAlg } from "./digest_boot.ts";

/** The parsed form of an ACON manifest (Image.md; behaviour file §4.1). */
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

export interface AttestData {
  type: number;
  data: string;
}

export interface ContainerRecord {
  id: number;
  imageId: string;
  /** Set by the container through the container-facing socket; appears in later Reports. */
  attestData: AttestData | null;
}

export interface PodState {
  finalized: boolean;
  /** By image id, in insertion order. */
  images: Map<string, LoadedImage>;
  /** By container id (ids are never reused). */
  containers: Map<number, ContainerRecord>;
}
