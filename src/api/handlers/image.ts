import type { Context } from "../../context.ts";
import { addManifest, finalize, getManifest } from "../../image/service.ts";
import type { Handlers } from "../router.ts";

export function imageHandlers(ctx: Context): Handlers {
  return {
    async addManifest(req) {
      return await addManifest(ctx, {
        manifest: req.manifest,
        signature: req.signature,
        certificate: req.certificate,
      });
    },
    async finalize() {
      await finalize(ctx);
      return {};
    },
    async getManifest(req) {
      return await getManifest(ctx, req.imageId);
    },
  };
}
