/** Maps whatever a service throws to a Connect error; internals are logged, never sent. */
import { Code, ConnectError } from "@connectrpc/connect";
import { AcondError, type ErrorCode, MSG } from "../errors.ts";
import { SysError } from "../sys/errors.ts";
import { log } from "../util/log.ts";

const CODES: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  permission_denied: Code.PermissionDenied,
  failed_precondition: Code.FailedPrecondition,
  not_found: Code.NotFound,
  deadline_exceeded: Code.DeadlineExceeded,
  resource_exhausted: Code.ResourceExhausted,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

export function toConnectError(e: unknown, method: string): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof AcondError) return new ConnectError(e.message, CODES[e.code]);
  if (e instanceof SysError) {
    log.warn(`${method}: ${e.message}`);
    return new ConnectError(`System error, errno: ${e.errnoName}`, Code.Internal);
  }
  log.error(`${method}: unexpected ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  return new ConnectError(MSG.unexpected, Code.Internal);
}
