/**
 * Large layers built at test time: GNU tar of `files` files of 1 MiB each, filled with bytes of a
 * seeded generator (different seeds: different layers, no two files alike).
 */
import { assert } from "./assert.ts";

export async function bigLayer(files: number, seed = 1): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "big-layer-" });
  try {
    await Deno.mkdir(`${dir}/tree/data`, { recursive: true });
    const words = new Uint32Array(1 << 18); // 1 MiB
    let x = (seed * 2654435761) >>> 0 || 1;
    for (let f = 0; f < files; f++) {
      for (let i = 0; i < words.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[i] = x >>> 0;
      }
      await Deno.writeFile(`${dir}/tree/data/f${f}`, new Uint8Array(words.buffer));
    }
    await Deno.writeTextFile(`${dir}/tree/README`, `layer ${seed}\n`);
    const r = await new Deno.Command("tar", {
      args: ["-C", `${dir}/tree`, "--owner=0", "--group=0", "-cf", `${dir}/layer.tar`, "."],
    }).output();
    assert(r.success, new TextDecoder().decode(r.stderr));
    return await Deno.readFile(`${dir}/layer.tar`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The daemon's peak resident memory so far (VmHWM of /proc/<pid>/status), in bytes. */
export function vmHwm(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  assert(m, `no VmHWM for pid ${pid}`);
  return Number(m[1]) * 1024;
}
