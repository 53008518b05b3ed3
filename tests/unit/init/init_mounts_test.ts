/**
 * mountEarly (the I/O half of boot mounts) on scratch paths inside a private mount namespace:
 * fstab used, a failing fstab entry falling back to the built-in table, no fstab, already
 * mounted targets skipped, the links. Needs root (unshare -m); reported ignored otherwise.
 */
import { assertEquals, assertMatch, assertOk } from "../../helpers/assert.ts";

const MOUNTS = new URL("../../../src/init/mounts.ts", import.meta.url).href;
const FSTAB = new URL("../../../src/init/fstab.ts", import.meta.url).href;

interface Result {
  report: {
    mounted: string[];
    skipped: string[];
    failed: string[];
    usedFstab: boolean;
    notes: string[];
  };
  /** target → options column of /proc/self/mounts, for the scratch mounts. */
  options: Record<string, string>;
  links: Record<string, string>;
}

/** Runs mountEarly in `unshare -m` with a builtin table and links under dir. */
async function inNamespace(
  dir: string,
  fstab: string | null,
  premount: string[] = [],
): Promise<Result> {
  if (fstab !== null) await Deno.writeTextFile(`${dir}/fstab`, fstab);
  const code = `
    import { mountEarly } from ${JSON.stringify(MOUNTS)};
    import { MS } from ${JSON.stringify(FSTAB)};
    const d = ${JSON.stringify(dir)};
    const e = (t, data, flags = 0) => ({ source: "tmpfs", target: d + t, fstype: "tmpfs", flags, data, unsupported: [] });
    for (const p of ${JSON.stringify(premount)}) {
      Deno.mkdirSync(d + p, { recursive: true });
      new Deno.Command("mount", { args: ["-t", "tmpfs", "pre", d + p] }).outputSync();
    }
    const report = mountEarly({
      fstabPath: d + "/fstab",
      builtin: [e("/run", "size=1m,mode=0755", MS.NOSUID | MS.NODEV), e("/shared", "size=1m", MS.NOEXEC)],
      links: [[d + "/fd", "/proc/self/fd"], [d + "/stdin", "/proc/self/fd/0"]],
    });
    const options = {};
    for (const l of Deno.readTextFileSync("/proc/self/mounts").split("\\n")) {
      const f = l.split(" ");
      if (f[1]?.startsWith(d)) options[f[1].slice(d.length)] = f[3];
    }
    const links = {};
    for (const n of ["fd", "stdin"]) links[n] = Deno.readLinkSync(d + "/" + n);
    console.log(JSON.stringify({ report, options, links }));
  `;
  const out = await new Deno.Command("unshare", {
    args: ["-m", "--propagation", "private", Deno.execPath(), "eval", "--no-config", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assertOk(out.success, err);
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as Result;
  // The report names full paths; make them relative to the scratch dir.
  const rel = (s: string) => s.replaceAll(dir, "");
  r.report.mounted = r.report.mounted.map(rel);
  r.report.skipped = r.report.skipped.map(rel);
  r.report.failed = r.report.failed.map(rel);
  r.report.notes = r.report.notes.map(rel);
  return r;
}

const root = Deno.uid() === 0;

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "acond-mounts-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "fstab present: its mounts with their flags and data; diratime is not noatime",
  ignore: !root,
  fn: () =>
    withDir(async (d) => {
      const r = await inNamespace(
        d,
        `# test\n/nonexistent/dev none swap sw 0 0\ntmpfs ${d}/a tmpfs nodev,nosuid,diratime,size=2m,mode=0700 0 0\n` +
          `tmpfs ${d}/b tmpfs ro,noexec,discard 0 0\n`,
      );
      assertEquals(r.report.usedFstab, true);
      assertEquals(r.report.mounted, ["/a", "/b"]);
      assertEquals(r.report.failed, []);
      assertOk(r.report.notes.some((n) => /nonexistent\/dev does not exist, skipped/.test(n)));
      assertOk(r.report.notes.some((n) => /\/b: options discard not supported/.test(n)));
      assertMatch(r.options["/a"], /^rw,nosuid,nodev,relatime,size=2048k,mode=700/);
      assertOk(!/noatime/.test(r.options["/a"]), r.options["/a"]);
      assertMatch(r.options["/b"], /^ro,.*noexec/);
      assertEquals(r.options["/run"], undefined); // fstab worked: no built-in mounts
      assertEquals(r.links, { fd: "/proc/self/fd", stdin: "/proc/self/fd/0" });
    }),
});

Deno.test({
  name: "a failing fstab entry stops the fstab; the built-in table fills the rest",
  ignore: !root,
  fn: () =>
    withDir(async (d) => {
      const r = await inNamespace(
        d,
        `tmpfs ${d}/a tmpfs size=1m 0 0\nnone ${d}/bad nosuchfs defaults 0 0\ntmpfs ${d}/c tmpfs size=1m 0 0\n`,
      );
      assertEquals(r.report.mounted, ["/a", "/run", "/shared"]);
      assertEquals(r.report.failed.length, 1);
      assertMatch(r.report.failed[0], /^\/bad: mount \/bad: /);
      assertEquals(r.options["/c"], undefined);
      assertMatch(r.options["/run"], /nosuid,nodev/);
      assertMatch(r.options["/shared"], /noexec/);
    }),
});

Deno.test({
  name: "no fstab: the built-in table; targets already mounted are skipped",
  ignore: !root,
  fn: () =>
    withDir(async (d) => {
      const r = await inNamespace(d, null, ["/run"]);
      assertEquals(r.report.usedFstab, false);
      assertEquals(r.report.mounted, ["/shared"]);
      assertEquals(r.report.skipped, ["/run"]);
      assertOk(!/nosuid/.test(r.options["/run"]), "the pre-existing /run mount was kept");
    }),
});
