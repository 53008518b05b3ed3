/**
 * Picks the TEE backend: `sim`, `tdx`, or `auto` (tdx when /dev/tdx_guest or the tdx_guest TSM
 * measurements directory exists, else sim). `tdx` without a TDX interface is an error: the sim
 * backend is never used in its place.
 */
import type { TeeChoice } from "../options.ts";
import type { Tee } from "./tee.ts";
import { SimTee } from "./sim.ts";
import { DEFAULT_TDX_PATHS, type TdxIo, type TdxPaths, tdxPresent, TdxTee } from "./tdx/backend.ts";
import { AcondError } from "../errors.ts";

export async function selectTee(
  choice: TeeChoice,
  paths: TdxPaths = DEFAULT_TDX_PATHS,
  io?: TdxIo,
): Promise<Tee> {
  if (choice === "sim") return new SimTee("requested");
  const present = await tdxPresent(paths);
  if (choice === "tdx") {
    if (!present) {
      throw new AcondError(
        "failed_precondition",
        `TEE "tdx" was requested but there is no TDX guest interface (${paths.dev}, ` +
          `${paths.measurements}); refusing to fall back to the simulator`,
      );
    }
    return await TdxTee.create(paths, io);
  }
  if (present) return await TdxTee.create(paths, io);
  return new SimTee(`auto: no TDX guest interface (${paths.dev})`);
}
