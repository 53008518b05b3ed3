/** Runs the built client (dist/aconctl) with no stdin; its exit code and stdout + stderr. */
import { TOP } from "./daemon.ts";

export async function aconctl(...args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(`${TOP}/dist/aconctl`, {
    args,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}
