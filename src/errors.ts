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
