export const ACOND_VERSION = "0.1.0";
/** The attestation-data api_version ACON verifiers expect. */
export const API_VERSION = "1.0.0";
