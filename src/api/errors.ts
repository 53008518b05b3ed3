/**
 * Maps whatever a service throws to a Connect error; internals are logged, never sent. Context
 * layers (errors.ts `withContext`) are looked through: the error under them decides the answer
 * and the whole chain goes to the log (docs/errors.md).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { AcondError, errorChain, type ErrorCode, MSG, unwrapContext } from "../errors.ts";
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
  const inner = unwrapContext(e);
  if (inner instanceof ConnectError) return inner;
  if (inner instanceof AcondError) {
    if (inner.code === "internal") log.warn(`${method}: ${errorChain(e)}`);
    return new ConnectError(inner.message, CODES[inner.code]);
  }
  if (inner instanceof SysError) {
    log.warn(`${method}: ${errorChain(e)}`);
    return new ConnectError(`System error, errno: ${inner.errnoName}`, Code.Internal);
  }
  const stack = inner instanceof Error && inner.stack ? `\n${inner.stack}` : "";
  log.error(`${method}: unexpected ${errorChain(e)}${stack}`);
  return new ConnectError(MSG.unexpected, Code.Internal);
}
