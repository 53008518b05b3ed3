import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  connect,
  DEFAULT_ADDR,
  describeConnectionError,
  parseAddr,
  rawHttpOf,
  resolveAddr,
} from "../../../src/cli/client.ts";

Deno.test("resolveAddr() prefers --socket, then --tcp, then ACON_ADDR, then the default", () => {
  assertEquals(resolveAddr("/s.sock", "h:1", "x:2"), "unix:/s.sock");
  assertEquals(resolveAddr(undefined, "127.0.0.1:1025"), "tcp:127.0.0.1:1025");
  assertEquals(resolveAddr(undefined, "tcp:127.0.0.1:1025"), "tcp:127.0.0.1:1025");
  assertEquals(resolveAddr(undefined, undefined, "/run/x.sock"), "unix:/run/x.sock");
  assertEquals(resolveAddr(undefined, undefined, "unix:/run/x.sock"), "unix:/run/x.sock");
  assertEquals(resolveAddr(undefined, undefined, "localhost:1025"), "tcp:localhost:1025");
  assertEquals(resolveAddr(), DEFAULT_ADDR);
});

Deno.test("aconctl bundles no server module: only cli/, gen/, wire constants, pure verify code", async () => {
  const src = new URL("../../src/", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${src}cli/aconctl.ts`],
    stdout: "piped",
  }).output();
  type Dep = { code?: { specifier: string } };
  type Mod = { specifier: string; dependencies?: Dep[] };
  const mods = new Map<string, Mod>();
  for (const m of JSON.parse(new TextDecoder().decode(out.stdout)).modules as Mod[]) {
    mods.set(m.specifier, m);
  }
  // What runs (type-only imports are erased from the bundle): the code edges from the entry.
  const seen = new Set<string>();
  const walk = (spec: string) => {
    if (seen.has(spec)) return;
    seen.add(spec);
    for (const d of mods.get(spec)?.dependencies ?? []) if (d.code) walk(d.code.specifier);
  };
  walk(`${src}cli/aconctl.ts`);
  const ours = [...seen].filter((s) => s.startsWith(src)).map((s) => s.slice(src.length)).sort();
  // Wire constants, the generic hash helpers, the pure verification code, and the pure detach
  // hotkey the console shares with attach / exec -it; the version constant (aconctl --version).
  const allowed =
    /^(cli\/|gen\/|api\/wire\.ts$|digest(_boot)?\.ts$|attest\/(verify|replay|tdreport|quote|quote_layout|bootevent|attestation|sim_values)\.ts$|console\/hotkey\.ts$|version\.ts$)/;
  assertEquals(ours.filter((p) => !allowed.test(p)), []);
});

Deno.test("parseAddr() (ACON_ADDR): unix:, /path, tcp:, http(s):// and host:port; anything else refused", () => {
  assertEquals(parseAddr("unix:/run/a.sock"), "unix:/run/a.sock");
  assertEquals(parseAddr("/run/a.sock"), "unix:/run/a.sock");
  assertEquals(parseAddr("tcp:127.0.0.1:1025"), "tcp:127.0.0.1:1025");
  assertEquals(parseAddr("http://localhost:1025"), "tcp:localhost:1025");
  assertEquals(parseAddr("http://127.0.0.1:1025/"), "tcp:127.0.0.1:1025");
  assertEquals(parseAddr("[::1]:1025"), "tcp:[::1]:1025");
  assertEquals(parseAddr("http://[::1]:1025"), "tcp:[::1]:1025");
  assertEquals(resolveAddr(undefined, undefined, "http://h:9"), "tcp:h:9");
  for (const bad of ["unix:", "localhost", "tcp:h", "http://h", "http://h:1/x", "h:0", "h:99999"]) {
    assertThrows(
      () => parseAddr(bad),
      /is not an address: give unix:PATH, tcp:HOST:PORT or http:\/\/HOST:PORT/,
      bad,
    );
  }
  // The TCP listener is attested TLS: https:// names it as http:// does (aconctl verifies it).
  assertEquals(parseAddr("https://h:1"), "tcp:h:1");
});

Deno.test("describeConnectionError(): says what happened", async () => {
  const te = (m: string) => Object.assign(new Error("x"), { code: 2, cause: new TypeError(m) });
  assertEquals(
    describeConnectionError(
      "unix:/x.sock",
      te("client error (Connect): No such file or directory (os error 2)"),
    ),
    "no socket at /x.sock (is acond running?)",
  );
  // A file where the socket should be, that nothing listens on.
  const file = await Deno.makeTempFile();
  assertEquals(
    describeConnectionError(`unix:${file}`, te("Connection refused (os error 111)")),
    `connection refused at ${file} (a socket file, but nothing listens on it)`,
  );
  await Deno.remove(file);
  assertEquals(
    describeConnectionError(
      "tcp:127.0.0.1:9",
      te("tcp connect error: Connection refused (os error 111)"),
    ),
    "connection refused at 127.0.0.1:9",
  );
  // node:tls's refusal (cli/tls.ts opens the attested TLS connections with it).
  assertEquals(
    describeConnectionError(
      "tcp:127.0.0.1:9",
      Object.assign(new Error("x"), { code: "ECONNREFUSED" }),
    ),
    "connection refused at 127.0.0.1:9",
  );
  assertEquals(
    describeConnectionError("tcp:h:9", { code: 12, rawMessage: "HTTP 404" }),
    "not acond: HTTP 404 at http://h:9",
  );
  assertEquals(
    describeConnectionError("tcp:h:9", { code: 5, rawMessage: "Invalid Container ID" }),
    undefined,
  );
});

Deno.test("connect(): the raw PUT dials the same daemon (unix socket, or TCP host and port)", async () => {
  const dir = await Deno.makeTempDir();
  const unix = Deno.listen({ transport: "unix", path: `${dir}/s` });
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (tcp.addr as Deno.NetAddr).port;
    for (
      const [addr, listener, host] of [
        [`unix:${dir}/s`, unix, "localhost"],
        [`tcp:127.0.0.1:${port}`, tcp, `127.0.0.1:${port}`],
      ] as const
    ) {
      const raw = rawHttpOf(connect(addr));
      if (!raw) throw new Error(`no raw HTTP for ${addr}`);
      assertEquals(raw.host, host);
      const accepted = listener.accept();
      const c = await raw.dial();
      (await accepted).close();
      c.close();
    }
  } finally {
    unix.close();
    tcp.close();
    await Deno.remove(dir, { recursive: true });
  }
});
