/**
 * Picks the TEE backend: `sim`, `tdx`, or `auto` (tdx when /dev/tdx_guest or the tdx_guest TSM
 * measurements directory exists, else sim). `tdx` without a TDX interface is an error: the sim
 * backend is never used in its place. The TDX backend's code is loaded only when it may be used.
 */
import type { TeeChoice } from "../options.ts";
import type { Tee } from "./tee.ts";
import { SimTee } from "./sim.ts";
import type { TdxIo, TdxPaths } from "./tdx/backend.ts";
import { AcondError } from "../errors.ts";

export async function selectTee(
  choice: TeeChoice,
  paths?: TdxPaths,
  io?: TdxIo,
  simMrConfigId?: Uint8Array,
): Promise<Tee> {
  if (choice === "sim") return new SimTee("requested", simMrConfigId);
  const { DEFAULT_TDX_PATHS, tdxPresent, TdxTee } = await import("./tdx/backend.ts");
  const p = paths ?? DEFAULT_TDX_PATHS;
  const present = await tdxPresent(p);
  if (choice === "tdx") {
    if (!present) {
      throw new AcondError(
        "failed_precondition",
        `TEE "tdx" was requested but there is no TDX guest interface (${p.dev}, ` +
          `${p.measurements}); refusing to fall back to the simulator`,
      );
    }
    return await TdxTee.create(p, io);
  }
  if (present) return await TdxTee.create(p, io);
  return new SimTee(`auto: no TDX guest interface (${p.dev})`, simMrConfigId);
}
