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
    listImages() {
      return {
        images: images.list().map((i) => ({
          imageId: i.id,
          layers: i.manifest.layers,
          entrypoint: i.manifest.entrypoint,
          signals: i.manifest.signals ?? [],
          aliases: Object.entries(i.manifest.aliases?.self ?? {}).flatMap(([k, v]) => [k, ...v]),
        })),
      };
    },
    async getManifest(req) {
      return await images.getManifest(req.imageId);
    },
  };
}
