/**
 * The pod's state as every concern sees it: loaded images, and the part of each container that
 * attestation reads and the container socket writes. The container module keeps the rest of a
 * container (src/container/types.ts) and owns its lifecycle.
 */
import type { LoadedImage } from "./image/types.ts";

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
