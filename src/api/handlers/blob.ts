/** Layer blobs: unary AddBlob (≤ --max-request) and the chunked, resumable upload RPCs. */
import type { Context } from "../../context.ts";
import { addBlob } from "../../image/blob.ts";
import { uploadsFor } from "../../image/upload.ts";
import type { Handlers } from "../router.ts";

export function blobHandlers(ctx: Context): Handlers {
  const uploads = uploadsFor(ctx); // shared with the raw stream route (api/blobstream.ts)
  return {
    async addBlob(req) {
      await addBlob(ctx, req.alg, req.data);
      return {};
    },
    beginBlob(req) {
      return uploads.begin(req.digest, req.size, req.alg);
    },
    async writeBlob(req) {
      return await uploads.write(req.uploadId, req.offset, req.data);
    },
    blobStatus(req) {
      return uploads.status(req.uploadId);
    },
    async commitBlob(req) {
      await uploads.commit(req.uploadId, req.alg);
      return {};
    },
  };
}
