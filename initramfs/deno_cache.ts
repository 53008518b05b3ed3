/**
 * Build-time helper of scripts/initramfs: makes Deno's SQLite caches (V8 code cache, module
 * analysis) in DIR reproducible. A run fills them in whatever order its module loads finish, and
 * leaves a write-ahead log; this rewrites each database with the same schema and its rows in
 * sorted order, in rollback-journal mode, keeping only rows for modules under /app and Deno's own
 * (ext:, node:) modules (so the warm-up script that filled them leaves no trace).
 * Usage: deno run -A initramfs/deno_cache.ts DIR
 */
import { DatabaseSync } from "node:sqlite";

const KEEP = /^(file:\/\/\/app\/|ext:|node:)/;

function rewrite(path: string): number {
  const src = new DatabaseSync(path);
  src.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const tables = src.prepare(
    "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name",
  ).all() as { name: string; sql: string }[];
  const tmp = `${path}.new`;
  try {
    Deno.removeSync(tmp);
  } catch { /* none */ }
  const dst = new DatabaseSync(tmp);
  dst.exec("PRAGMA journal_mode = DELETE");
  let kept = 0;
  for (const { name, sql } of tables) {
    dst.exec(sql);
    const cols = (src.prepare(`PRAGMA table_info(${name})`).all() as { name: string }[])
      .map((c) => c.name);
    const order = cols.map((_, i) => i + 1).join(", ");
    const insert = dst.prepare(
      `INSERT INTO ${name} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
    );
    dst.exec("BEGIN");
    const select = src.prepare(`SELECT ${cols.join(", ")} FROM ${name} ORDER BY ${order}`);
    select.setReadBigInts(true); // source hashes are 64-bit
    for (const row of select.all()) {
      const values = cols.map((c) => (row as Record<string, unknown>)[c]);
      if (cols[0] === "specifier" && !KEEP.test(String(values[0]))) continue;
      // deno-lint-ignore no-explicit-any
      insert.run(...(values as any[]));
      kept++;
    }
    dst.exec("COMMIT");
  }
  dst.exec("VACUUM");
  dst.close();
  src.close();
  for (const ext of ["-wal", "-shm"]) {
    try {
      Deno.removeSync(path + ext);
    } catch { /* none */ }
  }
  Deno.renameSync(tmp, path);
  return kept;
}

const dir = Deno.args[0];
for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
  if (!e.isFile || !/_v\d+$/.test(e.name)) continue;
  console.error(`initramfs: ${e.name}: ${rewrite(`${dir}/${e.name}`)} rows`);
}
