/**
 * The simulated TEE's fixed TDREPORT values (sim.ts writes them, verify.ts recognises a simulated
 * report by them). Pure: the CLI bundles this file.
 */
const enc = new TextEncoder();
/** ASCII text, NUL-padded to len bytes: recognisable in any hex dump. */
function ascii(s: string, len: number): Uint8Array {
  const b = new Uint8Array(len);
  b.set(enc.encode(s).subarray(0, len));
  return b;
}

/** The fixed simulator values (documented in docs/attestation.md). */
export const SIM_VALUES = {
  cpuSvn: ascii("ACOND-SIM-CPUSVN", 16),
  mac: ascii("ACOND SIM: NO MAC, NOT HARDWARE", 32),
  teeTcbSvn: ascii("ACOND-SIM-TCBSVN", 16),
  mrSeam: ascii("ACOND SIMULATED TDX MODULE: MRSEAM", 48),
  mrSignerSeam: ascii("ACOND SIMULATED TDX MODULE: MRSIGNERSEAM", 48),
  mrTd: ascii("ACOND SIMULATED TD: MRTD", 48),
  /** AVX-512, AMX off: a typical TD's XFAM; attributes 0 (not a debug TD). */
  xfam: 0x00000000000602e7n,
  tdAttributes: 0n,
} as const;
