/**
 * Domain errors. Services throw AcondError with one of these codes and (where ACON had one) ACON's
 * exact message text; the API layer maps the code to a Connect code. Anything else that escapes a
 * service becomes Internal with a generic message (the cause is logged, not sent).
 */
export type ErrorCode =
  | "invalid_argument"
  | "permission_denied"
  | "failed_precondition"
  | "not_found"
  | "deadline_exceeded"
  | "resource_exhausted"
  | "unimplemented"
  | "internal";

export class AcondError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AcondError";
    this.code = code;
  }
}

/** ACON's message texts (behaviour file §3.3); clients and tests match them. */
export const MSG = {
  finalized: "Manifests finalized",
  badSignature: "Invalid digital signature",
  badCertificate: "Invalid certificate",
  badHashAlgorithm: "Invalid hash algorithm",
  policy: "Incompatible polices",
  noReferencingManifest: "No referencing manifest",
  badImageId: "Invalid Image ID",
  badContainerId: "Invalid Container ID",
  terminated: "Container terminated",
  restartTimeout: "Timeout restarting container",
  restartForbidden: "Restarting container not allowed",
  signalForbidden: "Signal not allowed",
  policyFormat: "Invalid launch policy format",
  aliasFormat: "Invalid manifest alias format",
  badEntrypoint: "Invalid entrypoint",
  badRequestType: "Invalid request type",
  badTimeout: "Invalid timeout",
  execTimeout: "Timeout executing command",
  startTimeout: "Timeout starting container: its entry point did not reach exec in time " +
    "(a step of its creation is stuck)",
  /** ACON answered Unknown "Invalid timeout" for this; ours says why and what to do. */
  ptyNeedsInteractive: "interactive mode is off: an Exec with timeout 0 (a pty) is refused; " +
    "give a timeout > 0, or boot with acond.interactive (dev mode: --interactive)",
  stdinTooBig: "Stdin buffer size exceeds capture size",
  privateEntrypoint: "Private entrypoint",
  badStructure: "Invalid structure format",
  notSupported: "Request not supported",
  attestationNotSupported: "Attestation not supported",
  unexpected: "Unexpected error",
} as const;

type Cause = { cause?: unknown };

export function invalid(message: string, options?: Cause): AcondError {
  return new AcondError("invalid_argument", message, options);
}
export function denied(message: string, options?: Cause): AcondError {
  return new AcondError("permission_denied", message, options);
}
export function precondition(message: string, options?: Cause): AcondError {
  return new AcondError("failed_precondition", message, options);
}

/**
 * A context layer (crun's `crun_error_wrap`): `what` failed because of `cause`. The message reads
 * "what: <cause's message>", so layers added on the way up read "outer: inner: …: root"; the
 * original error stays reachable as `cause`. A layer never changes what a client is told: that
 * is the error under all layers (`unwrapContext`). See docs/errors.md.
 */
export class ContextError extends Error {
  readonly what: string;
  constructor(what: string, cause: unknown) {
    super(`${what}: ${messageOf(cause)}`, { cause });
    this.name = "ContextError";
    this.what = what;
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `e` with one more context layer: "what: <e's message>". */
export function wrapError(e: unknown, what: string): ContextError {
  return new ContextError(what, e);
}

/**
 * Runs `fn` (sync or async); whatever it throws or rejects with comes out wrapped in a context
 * layer naming `what`. The value is passed through unchanged.
 */
export function withContext<T>(what: string, fn: () => T): T {
  let r: T;
  try {
    r = fn();
  } catch (e) {
    throw wrapError(e, what);
  }
  if (r instanceof Promise) {
    return r.catch((e: unknown) => {
      throw wrapError(e, what);
    }) as T;
  }
  return r;
}

/**
 * The error under every context layer: the outermost error that is not a ContextError. It alone
 * decides what a client sees (an AcondError its code and message; a SysError "System error";
 * anything else "Unexpected error"); its own `cause`, if any, is never looked at for that.
 */
export function unwrapContext(e: unknown): unknown {
  for (let depth = 0; e instanceof ContextError && depth < 64; depth++) e = e.cause;
  return e;
}

/**
 * The whole chain for a log line, outer to inner, following `cause` through context layers and
 * beyond (an AcondError that kept its cause): "start container 5: mount overlay: mount …: EPERM".
 */
export function errorChain(e: unknown): string {
  const parts: string[] = [];
  for (let depth = 0; depth < 64; depth++) {
    if (e instanceof ContextError) {
      parts.push(e.what);
      e = e.cause;
      continue;
    }
    parts.push(messageOf(e));
    if (!(e instanceof Error) || e.cause === undefined) break;
    e = e.cause;
  }
  return parts.join(": ");
}
