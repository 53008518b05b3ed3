/**
 * The layering rules of docs/architecture.md, checked on the real import graph of src/ (static
 * imports, re-exports and dynamic imports alike):
 * - no cycle between folders (each file directly in src/ counts as a folder of its own);
 * - `Deno.dlopen` only in src/sys/ (main.ts's last-resort power-off is the one exception);
 * - generated protobuf code (src/gen/) only in api/ and cli/;
 * - container/ reaches the kernel only through the `Sys` seam (sys/mod.ts and pure constants)
 *   and reads no fixed /proc path;
 * - the client (cli/) pulls in no server module.
 */
import { assert, assertEquals } from "../helpers/assert.ts";

const SRC = new URL("../../src/", import.meta.url).pathname;

interface SourceFile {
  path: string; // relative to src/, e.g. "container/start.ts"
  text: string;
  imports: string[]; // resolved, relative to src/
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) walk(p, out);
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

function resolve(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "." || seg === "") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return parts.join("/");
}

/** Comments out: an import named in a comment is not an import. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

function load(): Map<string, SourceFile> {
  const files = new Map<string, SourceFile>();
  const re =
    /(?:^|[\s;])(?:import|export)\s[^"';]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s+["']([^"']+)["']/gm;
  for (const abs of walk(SRC.replace(/\/$/, ""))) {
    const path = abs.slice(SRC.length);
    const text = Deno.readTextFileSync(abs);
    const imports: string[] = [];
    for (const m of code(text).matchAll(re)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec.startsWith(".")) imports.push(resolve(path, spec));
    }
    files.set(path, { path, text, imports });
  }
  return files;
}

/** The folder a file belongs to: its first directory, or the file itself directly in src/. */
function folder(path: string): string {
  const i = path.indexOf("/");
  return i < 0 ? path : path.slice(0, i);
}

/** Strongly connected components of more than one folder (Tarjan). */
function folderCycles(files: Map<string, SourceFile>): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const f of files.values()) {
    const a = folder(f.path);
    if (!edges.has(a)) edges.set(a, new Set());
    for (const t of f.imports) if (folder(t) !== a) edges.get(a)!.add(folder(t));
  }
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** Which folder imports which, as "a → b (file)" lines, for a failure message. */
function edgesWithin(files: Map<string, SourceFile>, scc: string[]): string[] {
  const set = new Set(scc);
  const lines: string[] = [];
  for (const f of files.values()) {
    for (const t of f.imports) {
      if (folder(t) !== folder(f.path) && set.has(folder(f.path)) && set.has(folder(t))) {
        lines.push(`${f.path} → ${t}`);
      }
    }
  }
  return lines;
}

const files = load();

Deno.test("the import graph is read (not vacuous)", () => {
  assert(files.size > 100, `${files.size} files`);
  assert(files.get("daemon.ts")!.imports.includes("container/service.ts"), "dynamic imports");
  assert(files.get("container/start.ts")!.imports.includes("container/exit.ts"), "static imports");
});

Deno.test("no import cycle between folders", () => {
  const cycles = folderCycles(files);
  assertEquals(
    cycles.map((c) => `${c.join(" ↔ ")}:\n  ${edgesWithin(files, c).join("\n  ")}`),
    [],
  );
});

Deno.test("only src/sys opens libraries (main.ts's last-resort power-off excepted)", () => {
  const opening = [...files.values()].filter((f) => /Deno\.dlopen\s*\(/.test(code(f.text)))
    .map((f) => f.path).filter((p) => !p.startsWith("sys/"));
  assertEquals(opening, ["main.ts"]);
});

Deno.test("generated protobuf code is imported only by api/ and cli/", () => {
  const users = [...files.values()].filter((f) => f.imports.some((t) => t.startsWith("gen/")))
    .map((f) => f.path).filter((p) => !/^(api|cli|gen)\//.test(p));
  assertEquals(users, []);
});

Deno.test("container code reaches the kernel only through the Sys seam", () => {
  const SEAM = new Set(["sys/mod.ts", "sys/flags.ts", "sys/abi.ts"]);
  const bad: string[] = [];
  for (const f of files.values()) {
    if (!f.path.startsWith("container/")) continue;
    for (const t of f.imports) {
      if (t.startsWith("sys/") && !SEAM.has(t)) bad.push(`${f.path} → ${t}`);
    }
    if (/["'`]\/proc\//.test(code(f.text))) bad.push(`${f.path} reads a fixed /proc path`);
    if (
      /\bDeno\.(mkdir|remove|stat|lstat|readDir|readTextFile|readLink|chmod)/.test(code(f.text))
    ) {
      bad.push(`${f.path} calls Deno's file API directly`);
    }
  }
  assertEquals(bad, []);
});
