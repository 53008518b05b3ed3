/**
 * acond's entry point. In PID-1 mode nothing may touch /proc (or load node:* modules) before the
 * init code has mounted it, so this module imports nothing statically and loads the rest with
 * dynamic imports once it knows the mode.
 */
const args = Deno.args;
const pid1 = Deno.pid === 1 || args.includes("--init");

if (pid1) {
  const { runInit } = await import("./init/pid1.ts");
  await runInit(args);
} else {
  const { runDev } = await import("./dev.ts");
  Deno.exitCode = await runDev(args);
}
