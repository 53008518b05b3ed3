/**
 * At daemon start, before the boot is measured: checks the launch configuration (if one was
 * delivered) against the TD's MRCONFIGID and returns the options to run with. Accepted: the
 * document's settings replace acond's own and its digest goes into the boot event. Refused (a
 * digest mismatch or an invalid document): a loud console message, acond's own settings, and
 * `launchRefused` set, so AddManifest refuses every image (fail closed) while Health and Report
 * still answer, and an operator can see why.
 */
import { DEFAULT_LIMITS, type Options } from "../options.ts";
import type { Tee } from "./tee.ts";
import { parseTdReport } from "./tdreport.ts";
import { bindingProblem, launchConfigDigest, parseLaunchConfig } from "./launch_config.ts";
import { toHex } from "../digest_boot.ts";
import { log } from "../util/log.ts";

export async function applyLaunchConfig(opts: Options, tee: Tee): Promise<Options> {
  const bytes = opts.launchConfig;
  if (bytes === undefined) return opts;
  const refuse = (why: string): Options => {
    log.error(`${why}; no image will be accepted (AddManifest is refused)`);
    return { ...opts, launchRefused: why };
  };
  let mrConfigId: Uint8Array;
  try {
    mrConfigId = parseTdReport(await tee.report(new Uint8Array(64))).mrConfigId;
  } catch (e) {
    return refuse(`launch configuration refused: cannot read MRCONFIGID: ${(e as Error).message}`);
  }
  const problem = bindingProblem(bytes, mrConfigId);
  if (problem) return refuse(problem);
  let cfg;
  try {
    cfg = parseLaunchConfig(bytes);
  } catch (e) {
    return refuse(`${(e as Error).message} (refused)`);
  }
  const digest = toHex(launchConfigDigest(bytes));
  log.info(`launch configuration ${digest} accepted (bound by MRCONFIGID)`);
  return {
    ...opts,
    launchConfigDigest: digest,
    ...(cfg.minHash !== undefined ? { minHash: cfg.minHash } : {}),
    ...(cfg.trustedSigners !== undefined ? { trustedSigners: cfg.trustedSigners } : {}),
    ...(cfg.interactive !== undefined
      ? { interactive: cfg.interactive, ...(cfg.interactive ? {} : { debugShell: false }) }
      : {}),
    ...(cfg.limits !== undefined
      ? { limits: { ...(opts.limits ?? DEFAULT_LIMITS), ...cfg.limits } }
      : {}),
    ...(cfg.listeners?.tcp !== undefined ? { tcp: cfg.listeners.tcp } : {}),
    ...(cfg.listeners?.vsock !== undefined ? { vsock: cfg.listeners.vsock } : {}),
  };
}
