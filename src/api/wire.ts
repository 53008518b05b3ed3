/**
 * What the client and the daemon agree on outside the protobuf schema: the raw, streamed layer
 * upload's path and its range header (api/blobstream.ts serves it, cli/images.ts sends it;
 * docs/layers.md). Constants and pure functions only: the CLI bundles this file.
 */

/** `PUT <prefix><upload_id>` with the layer's bytes as the body (a prefix route). */
export const BLOB_STREAM_PREFIX = "/acon.grpc.AconService/blobs/";

/** An upload id as BeginBlob makes them (16 random bytes, hex). */
export const UPLOAD_ID = /^[0-9a-f]{32}$/;

/** The Content-Range of a body that starts at `offset` of a `total`-byte layer and runs to its end. */
export function streamContentRange(offset: number, total: number): string {
  return `bytes ${offset}-*/${total}`;
}
