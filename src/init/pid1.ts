/** PID-1 mode (the init duties land with the PID-1 issue). */
export function runInit(_args: string[]): Promise<void> {
  console.error("acond: PID-1 mode is not built yet; use --dev");
  return Promise.resolve();
}
