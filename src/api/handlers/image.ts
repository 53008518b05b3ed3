/** AddManifest, Finalize, GetManifest: thin decode → image service → encode (src/image/service.ts). */
import type { EventBus } from "../../events.ts";
import { Event_Kind } from "../../gen/acon_pb.ts";
import type { ImageEvents, ImageService } from "../../image/service.ts";
import type { Handlers } from "../router.ts";

/** The image service's events as Watch events. */
export function imageEvents(bus: EventBus): ImageEvents {
  return {
    imageAdded: (imageId) => bus.emit({ kind: Event_Kind.IMAGE_ADDED, imageId }),
    finalized: () => bus.emit({ kind: Event_Kind.FINALIZED }),
  };
}

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
