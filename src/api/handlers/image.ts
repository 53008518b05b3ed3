/** AddManifest, Finalize, GetManifest: thin decode → image service → encode (src/image/service.ts). */
import type { ImageService } from "../../image/service.ts";
import type { Handlers } from "../router.ts";

export function imageHandlers(images: ImageService): Handlers {
  return {
    async addManifest(req) {
      return await images.addManifest({
        manifest: req.manifest,
        signature: req.signature,
        certificate: req.certificate,
      });
    },
    async finalize() {
      await images.finalize();
      return {};
    },
    async getManifest(req) {
      return await images.getManifest(req.imageId);
    },
  };
}
