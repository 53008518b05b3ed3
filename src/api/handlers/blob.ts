/** Layer blobs: unary AddBlob (≤ --max-request) and the chunked, resumable upload RPCs. */
import type { Context } from "../../context.ts";
import { addBlob } from "../../image/blob.ts";
import type { Uploads } from "../../image/upload/table.ts";
import type { Handlers } from "../router.ts";

/** `uploads` is the daemon's one table, shared with the raw stream route (api/blobstream.ts). */
export function blobHandlers(ctx: Context, uploads: Uploads): Handlers {
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
