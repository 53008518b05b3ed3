/**
 * The overlay mount option string (Image.md "layers"; behaviour file §7.3): `lowerdir=` lists
 * the container's `top` directory (empty mount points) first, then the layers from the last
 * manifest entry down to the first; `upperdir`/`workdir` only for writableFS. Pure.
 */
export interface OverlayPaths {
  top: string;
  /** Layer directories in manifest order (bottom first). */
  layers: string[];
  upper?: string;
  work?: string;
}

/** Characters the kernel's option parser would split on or misread in a path. */
const UNSAFE = /[,:\\\n\0]/;
/** mount(2) passes data in one page. */
export const MAX_OPTIONS = 4095;

export function overlayOptions(p: OverlayPaths): string {
  const all = [p.top, ...[...p.layers].reverse(), p.upper ?? "", p.work ?? ""];
  for (const path of all) {
    if (UNSAFE.test(path)) throw new Error(`overlay path with a reserved character: ${path}`);
  }
  let s = `lowerdir=${[p.top, ...[...p.layers].reverse()].join(":")}`;
  if (p.upper !== undefined || p.work !== undefined) {
    if (!p.upper || !p.work) throw new Error("overlay needs both upperdir and workdir");
    s += `,upperdir=${p.upper},workdir=${p.work}`;
  }
  if (s.length > MAX_OPTIONS) throw new Error(`overlay options too long (${s.length} bytes)`);
  return s;
}
