/** The part of a container every concern sees (the container module keeps the rest). */
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
