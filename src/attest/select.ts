/** Picks the TEE backend: `sim`, `tdx`, or `auto` (tdx when a TDX guest interface exists). */
import type { TeeChoice } from "../options.ts";
import type { Tee } from "./tee.ts";
import { SimTee } from "./sim.ts";
import { AcondError } from "../errors.ts";

export function selectTee(choice: TeeChoice): Promise<Tee> {
  if (choice === "tdx") {
    return Promise.reject(
      new AcondError("failed_precondition", "the tdx backend is not available in this build"),
    );
  }
  return Promise.resolve(new SimTee());
}
