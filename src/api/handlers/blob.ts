import type { Context } from "../../context.ts";
import type { Handlers } from "../router.ts";

export function blobHandlers(_ctx: Context): Handlers {
  return {};
}
