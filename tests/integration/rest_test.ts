/**
 * ACON's REST API (/api/v1, issue 14) on the real dev daemon's TCP listener, driven with requests
 * shaped exactly as aconcli sends them (tests/helpers/rest.ts: Go's multipart writer, Go's
 * url.Values, a chunked file body for blobs, a kill form without a Content-Type) and answers
 * decoded as aconcli's Go structs decode them (including its `attestationData` quirk). Then the
 * hostile inputs: malformed multipart, bodies over the limit, bad Content-Range, bad ids and
 * fields, unknown routes; and a container refused by the TCP listener's peer guard.
 */
import { freePort, servedCertificate } from "../helpers/net.ts";
import { pem } from "../../src/attest/ratls/cert.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { type DevDaemon, startDaemon } from "../helpers/daemon.ts";
import { makeSigner } from "../helpers/pki.ts";
import { baseManifest, expectedImageId, signedManifest } from "../helpers/image.ts";
import { buildRootfs, sha384hex, tarOf } from "../helpers/busybox.ts";
import {
  GO_HEADERS,
  goBytes,
  goField,
  goInt,
  goMultipart,
  type GoPart,
  goString,
  goStrings,
  goValues,
} from "../helpers/rest.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const enc = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  text: string;
  type: string | null;
}

/** A client over the REST endpoints, each request as aconcli's AconClientHttp makes it. */
class AconHttp {
  /** `pem`: the served certificate over TLS (aconcli skips verification: trusting it is as much). */
  readonly #client: Deno.HttpClient | undefined;
  constructor(readonly base: string, readonly pem?: string) {
    this.#client = pem ? Deno.createHttpClient({ caCerts: [pem] }) : undefined;
  }

  /** A raw connection to the listener, TLS when the API is (for bodies cut or stalled by hand). */
  connect(): Promise<Deno.Conn> {
    const port = Number(new URL(this.base).port);
    return this.pem
      ? Deno.connectTls({ hostname: "localhost", port, caCerts: [this.pem] })
      : Deno.connect({ hostname: "127.0.0.1", port });
  }

  close() {
    this.#client?.close();
  }

  async send(method: string, path: string, init: RequestInit = {}): Promise<Answer> {
    const r = await fetch(`${this.base}${path}`, {
      method,
      client: this.#client,
      ...init,
      headers: { ...GO_HEADERS, ...(init.headers as Record<string, string> ?? {}) },
    });
    return { status: r.status, text: await r.text(), type: r.headers.get("content-type") };
  }

  /** processReponse: a 2xx answer's body, else aconcli's "http status" error. */
  async ok(method: string, path: string, init: RequestInit = {}): Promise<string> {
    const a = await this.send(method, path, init);
    if (a.status < 200 || a.status >= 300) {
      throw new Error(`http status: ${a.status}: ${a.text}`);
    }
    return a.text;
  }

  multipart(parts: GoPart[]): RequestInit {
    const m = goMultipart(parts);
    return { body: m.body, headers: { "content-type": m.contentType } };
  }

  /** AddManifest: the manifest, signature and cert as file parts. */
  async addManifest(manifest: Uint8Array, sig: Uint8Array, cert: Uint8Array) {
    const text = await this.ok(
      "POST",
      "/api/v1/manifest",
      this.multipart([
        { name: "manifest", filename: "acon.json", value: manifest },
        { name: "sig", filename: "signature", value: sig },
        { name: "cert", filename: "signer.cer", value: cert },
      ]),
    );
    const r = JSON.parse(text);
    return {
      imageId: goString(goField(r, "image_id")),
      missingLayers: goStrings(goField(r, "missing_layers")),
    };
  }

  /** AddBlob: PUT of the file, streamed (Go sends an *os.File body chunked), no Content-Type. */
  async addBlob(alg: number, name: string, data: Uint8Array, headers: Record<string, string> = {}) {
    return await this.ok("PUT", `/api/v1/blob/${name}?alg=${alg}`, {
      body: chunked(data),
      headers,
    });
  }

  async finalize() {
    await this.ok("POST", "/api/v1/manifest/finalize");
  }

  async start(imageId: string, env: string[]): Promise<number> {
    const text = await this.ok(
      "POST",
      `/api/v1/container/start?${goValues({ image_id: imageId })}`,
      this.multipart([{ name: "env", value: env.join("\n") }]),
    );
    return goInt(goField(JSON.parse(text), "container_id"));
  }

  /** Kill: the urlencoded form in a body without any Content-Type (aconcli's quirk). */
  async kill(cid: number, signum: number) {
    return await this.send("POST", `/api/v1/container/${cid}/kill`, {
      body: enc(goValues({ signal_num: String(signum) })),
    });
  }

  async restart(cid: number, timeout: number) {
    await this.ok(
      "POST",
      `/api/v1/container/${cid}/restart?${goValues({ timeout: `${timeout}` })}`,
    );
  }

  /** Invoke: stdin as a file part (if any), then the cmd and env fields. */
  async invoke(cid: number, cmd: string[], timeout: number, env: string[], stdin?: Uint8Array) {
    const parts: GoPart[] = [];
    if (stdin) parts.push({ name: "stdin", filename: "stdin.txt", value: stdin });
    parts.push({ name: "cmd", value: cmd.join("\n") }, { name: "env", value: env.join("\n") });
    const q = goValues({ timeout: `${timeout}`, capture_size: `${0x20000}` });
    const text = await this.ok("POST", `/api/v1/container/${cid}/exec?${q}`, this.multipart(parts));
    const r = JSON.parse(text);
    return { stdout: goBytes(goField(r, "stdout")), stderr: goBytes(goField(r, "stderr")) };
  }

  /** Inspect, decoded into aconcli's AconStatus. */
  async inspect(cid: number) {
    const r = JSON.parse(await this.ok("GET", `/api/v1/container/${cid}/inspect`));
    return (goField(r, "info") as Record<string, unknown>[]).map((i) => ({
      containerId: goInt(goField(i, "container_id")),
      state: goInt(goField(i, "state")),
      wstatus: goInt(goField(i, "wstatus")),
      imageId: goString(goField(i, "image_id")),
      exePath: goString(goField(i, "exe_path")),
    }));
  }

  /** Report, decoded into aconcli's ReportResponse (its AttestationData tag is attestationData). */
  async report(lo: bigint, hi: bigint, type: number) {
    const q = goValues({ nonce_lo: `${lo}`, nonce_hi: `${hi}`, request_type: `${type}` });
    const raw = await this.ok("GET", `/api/v1/container/report?${q}`);
    const r = JSON.parse(raw);
    const mrlog = new Map<number, string[]>();
    for (const [k, v] of Object.entries(goField(r, "mrlog") as Record<string, unknown>)) {
      assertMatch(k, /^\d+$/); // Go decodes the keys into uint32
      mrlog.set(Number(k), goStrings(goField(v as Record<string, unknown>, "logs")));
    }
    return {
      data: goBytes(goField(r, "data")),
      mrlog,
      attestationData: goString(goField(r, "attestationData")),
      raw: JSON.parse(raw),
    };
  }
}

/** A body of unknown length (chunked transfer encoding), as Go sends a file. */
function chunked(data: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.length) return c.close();
      c.enqueue(data.slice(at, at + 65536));
      at += 65536;
    },
  });
}

async function layerOf(files: Record<string, string>): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "rest-layer-" });
  try {
    for (const [p, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${p}`, text);
    return await tarOf(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A dev daemon with its TCP listener, and a client over it: HTTPS as aconcli speaks it (the
 * listener's default), plain HTTP when `args` says `--tls off`.
 */
async function withDaemon(args: string[], fn: (d: DevDaemon, api: AconHttp) => Promise<void>) {
  const port = freePort();
  const d = await startDaemon({ args: ["--tcp", `127.0.0.1:${port}`, ...args] });
  const plain = args.join(" ").includes("--tls off");
  const api = plain
    ? new AconHttp(`http://127.0.0.1:${port}`)
    : new AconHttp(`https://localhost:${port}`, pem("CERTIFICATE", await servedCertificate(port)));
  try {
    await fn(d, api);
  } finally {
    api.close();
    await d.stop();
  }
}

Deno.test("REST like aconcli: manifest, blob (whole and resumed), start, exec, kill, restart, inspect, report, finalize", async () => {
  await withDaemon([], async (d, api) => {
    const src = await Deno.makeTempDir({ prefix: "rest-rootfs-" });
    await buildRootfs(src);
    const tar = await tarOf(src);
    await Deno.remove(src, { recursive: true });
    const hex = await sha384hex(tar);
    const signer = await makeSigner("ec-p384");
    const m = baseManifest({
      layers: [`sha384/${hex}`],
      entrypoint: ["/bin/sleep", "1000"],
      env: ["PATH=/bin", "A", "B=two", "B=three"],
      signals: [9, -9, 15, -15],
      maxInstances: 0,
    });
    (m as Record<string, unknown>).aliases = { self: { ".": ["rest:1"] } };
    const s = await signedManifest(signer, m);

    // AddManifest: the image id, every layer missing.
    const added = await api.addManifest(enc(s.manifest), s.signature, s.certificate);
    assertEquals(added.imageId, await expectedImageId(signer, s.manifest));
    assertEquals(added.missingLayers, [`sha384/${hex}`]);

    // AddBlob as aconcli: `<hex>.tar?alg=2`, the whole file, chunked.
    assertEquals(await api.addBlob(2, `${hex}.tar`, tar), "");
    assertEquals((await api.send("GET", `/api/v1/blob/${hex}.tar`)).status, 404); // committed

    // GetManifest: the bytes received and the certificate, as JSON arrays of numbers.
    const gm = JSON.parse(await api.ok("GET", `/api/v1/manifest/${added.imageId}`));
    assertEquals(gm.manifest, s.manifest);
    assertEquals(goBytes(gm.certificate), s.certificate);

    // Start with env (Start's rules: A any value, B one of two), then see it in the init.
    const cid = await api.start(added.imageId, ["A=1", "B=three"]);
    assert(cid > 0);
    const env = await api.invoke(cid, ["Sh", "tr '\\0' '\\n' < /proc/1/environ | sort"], 30, []);
    assertEquals(dec(env.stdout), "A=1\nB=three\nPATH=/bin\n");

    // Exec with stdin (a file part), cmd lines and env lines: stdout and stderr as byte arrays.
    const x = await api.invoke(
      cid,
      ["Sh", 'cat; echo "E=$E"; echo oops >&2'],
      30,
      ["PATH=/bin", "E=exec"],
      enc("from stdin\n"),
    );
    assertEquals([dec(x.stdout), dec(x.stderr)], ["from stdin\nE=exec\n", "oops\n"]);

    // Inspect (one, all through both paths), decoded as AconStatus.
    const [i] = await api.inspect(cid);
    assertEquals([i.containerId, i.imageId, i.wstatus], [cid, added.imageId, 0]);
    assert(i.state > 0 && i.exePath !== "", JSON.stringify(i));
    assertEquals((await api.inspect(0)).map((i) => i.containerId), [cid]);
    const all = JSON.parse(await api.ok("GET", "/api/v1/container/inspect"));
    assertEquals(Object.keys(all.info[0]).sort(), [
      "container_id",
      "exe_path",
      "image_id",
      "state",
      "wstatus",
    ]);

    // Kill with aconcli's form: a signal the manifest does not allow is ACON's 401.
    const refused = await api.kill(cid, 2);
    assertEquals([refused.status, refused.text], [401, "Signal not allowed"]);
    assertEquals((await api.kill(cid, 9)).status, 200);
    for (let n = 0; (await api.inspect(cid))[0].state !== 0; n++) {
      if (n > 300) throw new Error("the container did not exit after kill 9");
      await sleep(20);
    }
    assertEquals((await api.inspect(cid))[0].wstatus, 9);
    const dead = await api.kill(cid, 9);
    assertEquals([dead.status, dead.text], [500, "Container terminated"]);

    // Restart: running again, same id.
    await api.restart(cid, 30);
    assert((await api.inspect(cid))[0].state > 0, "restarted");

    // A second image with a second layer, uploaded in two ranges with a resume in between.
    const layer2 = await layerOf({ "hello.txt": "hello from layer 2\n" });
    const hex2 = await sha384hex(layer2);
    const m2 = baseManifest({
      layers: [`sha384/${hex}`, `sha384/${hex2}`],
      entrypoint: ["/bin/sleep", "1000"],
      env: ["PATH=/bin"],
      signals: [9],
      maxInstances: 0,
    });
    (m2 as Record<string, unknown>).aliases = { self: { ".": ["rest:2"] } };
    const s2 = await signedManifest(signer, m2);
    const added2 = await api.addManifest(enc(s2.manifest), s2.signature, s2.certificate);
    const T = layer2.length, k = 1000;
    const name2 = `${hex2}.tar`;
    assertEquals(
      await api.addBlob(2, name2, layer2.slice(0, k), { "content-range": `bytes 0-${k - 1}/${T}` }),
      "",
    );
    assertEquals(JSON.parse(await api.ok("GET", `/api/v1/blob/${name2}`)), k);
    const ahead = await api.send("PUT", `/api/v1/blob/${name2}?alg=2`, {
      body: new Uint8Array(layer2.slice(k + 10)),
      headers: { "content-range": `bytes ${k + 10}-${T - 1}/${T}` },
    });
    assertEquals(
      [ahead.status, ahead.text],
      [400, "The start of content range is bigger than the existing file"],
    );
    // Resuming from before what was received: the overlap is skipped.
    assertEquals(
      await api.addBlob(2, name2, layer2.slice(k - 100), {
        "content-range": `bytes ${k - 100}-${T - 1}/${T}`,
      }),
      "",
    );
    assertEquals((await api.send("GET", `/api/v1/blob/${name2}`)).status, 404);
    const cid2 = await api.start(added2.imageId, []);
    const h = await api.invoke(cid2, ["Sh", "cat /hello.txt"], 30, ["PATH=/bin"]);
    assertEquals(dec(h.stdout), "hello from layer 2\n");

    // Report as aconcli decodes it: the TDREPORT, the logs; its attestationData is always ""
    // (acond sends attestation_data). The real field binds the nonce and REPORTDATA.
    const rep = await api.report(1n, 2n, 0);
    assertEquals(rep.attestationData, "");
    assertEquals([...rep.mrlog.keys()].sort(), [0, 1, 2, 3]);
    assert(rep.mrlog.get(3)!.some((l) => l.includes(added.imageId)), rep.mrlog.get(3)!.join("\n"));
    assertEquals(rep.data.length, 1024);
    const att = rep.raw.attestation_data as string;
    assertEquals(JSON.parse(att).requestor_nonce, [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    const rd = new Uint8Array(await crypto.subtle.digest("SHA-384", enc(att)));
    assertEquals(rep.data.slice(128, 176), rd);

    // Finalize: then AddManifest is ACON's 401; Finalize again too.
    await api.finalize();
    const m3 = await signedManifest(signer, { ...m2, aliases: { self: { ".": ["rest:3"] } } });
    const late = await api.send(
      "POST",
      "/api/v1/manifest",
      api.multipart([
        { name: "manifest", filename: "acon.json", value: m3.manifest },
        { name: "sig", filename: "signature", value: m3.signature },
        { name: "cert", filename: "signer.cer", value: m3.certificate },
      ]),
    );
    assertEquals([late.status, late.text], [401, "Manifests finalized"]);
    assertEquals((await api.send("POST", "/api/v1/manifest/finalize")).status, 401);
    assertMatch(d.stderr(), /serving on tcp:127\.0\.0\.1/);
  });
});

Deno.test("REST oauth2: login without an identity provider is ACON's 500, logout is a no-op", async () => {
  await withDaemon([], async (_d, api) => {
    // aconcli's login form (PostForm), device code from its own talk with the provider.
    const form = goValues({
      client_id: "id",
      client_secret: "secret",
      device_code: "code",
      expires_in: "1800",
      interval: "5",
    });
    const login = await api.send("POST", "/api/v1/oauth2/login", {
      body: form,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assertEquals(login.status, 500);
    assertMatch(login.text, /^Invalid openid user from Idp server: no identity provider/);
    assertMatch(login.text, /--nologin/);
    // A form missing a field, or with a bad number, is actix's 400.
    const short = await api.send("POST", "/api/v1/oauth2/login", {
      body: "client_id=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assertEquals([short.status, short.text], [400, "Missing field client_secret"]);
    const badTimeout = await api.send("POST", "/api/v1/oauth2/login", {
      body: `${form}&session_timeout=soon`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assertEquals(badTimeout.status, 400);
    // Logout as aconcli sends it (the token it holds, no body): nothing to rotate.
    const out = await api.send("POST", "/api/v1/oauth2/logout", {
      headers: { authorization: "00".repeat(56) },
    });
    assertEquals([out.status, out.text], [200, ""]);
    // No authentication: the API answers without a token (aconcli --nologin).
    assertEquals((await api.send("GET", "/api/v1/container/inspect")).text, '{"info":[]}');
  });
});

Deno.test("REST hostile inputs: malformed multipart, oversized bodies, bad ranges, ids and fields", async () => {
  await withDaemon(["--max-request", "1", "--body-timeout", "2"], async (_d, api) => {
    const expect = async (a: Promise<Answer>, status: number, text: RegExp) => {
      const r = await a;
      assertEquals(r.status, status, r.text);
      assertMatch(r.text, text);
      assertEquals(r.type, r.status === 200 ? "application/json" : "text/plain");
    };
    const mp = api.multipart([{ name: "manifest", filename: "a.json", value: "{}" }]);
    const body = mp.body as Uint8Array<ArrayBuffer>;
    const type = (mp.headers as Record<string, string>)["content-type"];
    const post = (path: string, b: BodyInit | null, t: string | null) =>
      api.send("POST", path, { body: b, headers: t === null ? {} : { "content-type": t } });

    // Multipart: cut short, without a boundary, not multipart, nameless part, garbage.
    await expect(
      post("/api/v1/manifest", body.slice(0, body.length - 10), type),
      400,
      /^Malformed multipart body: .*no closing boundary/,
    );
    await expect(
      post("/api/v1/manifest", body, "multipart/form-data"),
      400,
      /^Malformed multipart request: multipart\/form-data without a boundary/,
    );
    await expect(
      post("/api/v1/manifest", body, "application/json"),
      400,
      /^Malformed multipart request: Content-Type is application\/json/,
    );
    await expect(post("/api/v1/manifest", body, null), 400, /no Content-Type/);
    const b = type.split("boundary=")[1];
    await expect(
      post(
        "/api/v1/manifest",
        `--${b}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--${b}--\r\n`,
        type,
      ),
      400,
      /^Malformed multipart body: part 0: Content-Disposition has no name/,
    );
    await expect(post("/api/v1/manifest", "garbage", type), 400, /does not start with/);
    // An empty manifest (no parts at all) reaches AddManifest, which refuses it.
    await expect(post("/api/v1/manifest", `--${b}--\r\n`, type), 400, /./);

    // Over the request limit (--max-request 1 → 8 MiB + 4 KiB): declared, and streamed.
    const big = new Uint8Array(9 << 20);
    const over = api.multipart([{ name: "stdin", filename: "big", value: big }]);
    await expect(
      api.send("POST", "/api/v1/container/1/exec", over),
      413,
      /^Request body larger than \d+ bytes/,
    );
    await expect(
      api.send("POST", "/api/v1/container/1/exec", {
        body: chunked(over.body as Uint8Array),
        headers: over.headers,
      }),
      413,
      /^Request body larger than/,
    );

    // Blobs: a name that is not a digest, a bad Content-Range, an unreferenced layer, bad alg.
    const hex = "ab".repeat(48);
    await expect(
      api.send("PUT", "/api/v1/blob/layer.tar", { body: "x" }),
      400,
      /is not a layer digest/,
    );
    await expect(
      api.send("PUT", `/api/v1/blob/${hex}.tar`, {
        body: "x",
        headers: { "content-range": "bytes x-y/z" },
      }),
      400,
      /^Bad Content-Range/,
    );
    await expect(
      api.send("PUT", `/api/v1/blob/${hex}.tar`, {
        body: "x",
        headers: { "content-range": "bytes 5-2/10" },
      }),
      400,
      /end before start/,
    );
    await expect(
      api.send("PUT", `/api/v1/blob/${hex}.tar`, { body: "x" }),
      401,
      /^No referencing manifest/,
    );
    await expect(
      api.send("PUT", `/api/v1/blob/${hex}.tar?alg=0`, { body: "x" }),
      401,
      /^No referencing manifest$/,
    );
    await expect(
      api.send("PUT", `/api/v1/blob/${hex}.tar?alg=two`, { body: "x" }),
      400,
      /^Bad field alg=two/,
    );
    await expect(api.send("GET", `/api/v1/blob/${hex}.tar`), 404, /No upload/);

    // Ids, fields, routes.
    await expect(api.send("GET", "/api/v1/container/abc/inspect"), 404, /No REST endpoint/);
    await expect(api.send("GET", "/api/v1/container/4294967296/inspect"), 404, /No REST/);
    await expect(api.send("GET", "/api/v1/container/42/inspect"), 400, /^Invalid Container ID$/);
    await expect(api.send("GET", "/api/v1/manifest"), 404, /No REST endpoint GET/);
    await expect(api.send("GET", "/api/v1/nothing"), 404, /No REST endpoint/);
    await expect(
      api.send("GET", "/api/v1/container/report?nonce_lo=1&request_type=0"),
      400,
      /^Missing field nonce_hi/,
    );
    await expect(
      api.send(
        "GET",
        "/api/v1/container/report?nonce_lo=1&nonce_hi=18446744073709551616&request_type=0",
      ),
      400,
      /^Bad field nonce_hi/,
    );
    await expect(
      api.send("GET", "/api/v1/container/report?nonce_lo=1&nonce_hi=2&request_type=7"),
      400,
      /^Invalid request type$/,
    );
    await expect(
      api.send("GET", `/api/v1/manifest/sha384/${hex}/${hex}`),
      400,
      /^Invalid Image ID$/,
    );
    await expect(api.send("POST", "/api/v1/container/start", mp), 400, /^Missing field image_id/);
    await expect(
      api.send("POST", "/api/v1/container/start?image_id=nope", mp),
      400,
      /^Invalid Image ID$/,
    );
    await expect(api.kill(1, NaN), 400, /^Bad field signal_num=NaN/);
    await expect(
      api.send("POST", "/api/v1/container/1/kill", {
        body: "signal_num=9",
        headers: { "content-type": "application/json" },
      }),
      400,
      /urlencoded/,
    );
    await expect(
      api.send("POST", "/api/v1/container/1/kill", { body: enc("x=1") }),
      400,
      /^Missing field signal_num/,
    );
    await expect(api.kill(1, 9), 400, /^Invalid Container ID$/);
    await expect(
      api.send("POST", "/api/v1/container/1/restart?timeout=-1"),
      400,
      /^Bad field timeout=-1/,
    );
    // A multipart body that stalls is cut off by the listener's body deadline (--body-timeout).
    const stall = await api.connect();
    await stall.write(enc(
      `POST /api/v1/manifest HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\n` +
        `Content-Length: 100000\r\n\r\n--${b}\r\n`,
    ));
    const buf = new Uint8Array(4096);
    let cutOff = false;
    const reading = (async () => {
      try {
        while ((await stall.read(buf)) !== null) { /* an answer: read on until EOF */ }
      } catch { /* reset */ }
      cutOff = true;
    })();
    for (let n = 0; !cutOff && n < 100; n++) await sleep(200); // a bound, not a timing assertion
    stall.close();
    await reading;
    assert(cutOff, "a stalled REST body was not cut off");
    // The daemon still answers.
    assertEquals((await api.send("GET", "/api/v1/container/inspect")).status, 200);
  });
});

Deno.test("REST on TCP: a container is refused by the peer guard; the host is served", async () => {
  // Plain HTTP: busybox wget has no TLS; what refuses the container here is the peer guard.
  await withDaemon(["--tls", "off"], async (d, api) => {
    const src = await Deno.makeTempDir({ prefix: "rest-rootfs-" });
    await buildRootfs(src);
    const tar = await tarOf(src);
    await Deno.remove(src, { recursive: true });
    const c = d.client();
    const m = baseManifest({
      layers: [`sha384/${await sha384hex(tar)}`],
      entrypoint: ["/bin/sleep", "1000"],
      env: ["PATH=/bin"],
      signals: [9],
      maxInstances: 0,
    });
    const added = await c.addManifest(await signedManifest(await makeSigner("ec-p384"), m));
    await c.addBlob({ alg: 2, data: tar });
    const cid = (await c.start({ imageId: added.imageId, envs: [] })).containerId;
    const url = `${api.base}/api/v1/container/${cid}/kill`;
    const r = await c.exec({
      containerId: cid,
      command: "Sh",
      arguments: [`wget -q -O - --post-data 'signal_num=9' ${url} 2>&1; echo "rc=$?"`],
      envs: ["PATH=/bin"],
      timeout: 20n,
    });
    assertMatch(dec(r.stdout), /server returned error: HTTP\/1\.1 403 Forbidden\nrc=1/);
    assertMatch(d.stderr(), /refused POST \/api\/v1\/container\/\d+\/kill from .*container/);
    assert((await api.inspect(cid))[0].state > 0, "the container killed itself through REST");
  });
});

Deno.test("REST blob: a PUT cut mid-body is resumed from what GET says it holds", async () => {
  await withDaemon([], async (d, api) => {
    const src = await Deno.makeTempDir({ prefix: "rest-rootfs-" });
    await buildRootfs(src);
    const tar = await tarOf(src);
    await Deno.remove(src, { recursive: true });
    const hex = await sha384hex(tar);
    const m = baseManifest({
      layers: [`sha384/${hex}`],
      entrypoint: ["/bin/sleep", "1000"],
      env: ["PATH=/bin"],
      signals: [9],
      maxInstances: 0,
    });
    const s = await signedManifest(await makeSigner("ec-p384"), m);
    const added = await api.addManifest(enc(s.manifest), s.signature, s.certificate);
    // A PUT as aconcli's, cut by the client after part of the body.
    const conn = await api.connect();
    const cut = Math.floor(tar.length / 3);
    await conn.write(enc(
      `PUT /api/v1/blob/${hex}.tar?alg=2 HTTP/1.1\r\nHost: x\r\nUser-Agent: Go-http-client/1.1\r\n` +
        `Content-Length: ${tar.length}\r\n\r\n`,
    ));
    await conn.write(tar.slice(0, cut));
    // Until the daemon has read the PUT's headers there is no upload yet (404). The socket stays
    // open until then: the peer guard refuses a local peer whose socket is gone (docs/api.md).
    const held = async () => {
      const a = await api.send("GET", `/api/v1/blob/${hex}.tar`);
      if (a.status === 404) return -1;
      assertEquals(a.status, 200, a.text);
      return JSON.parse(a.text) as number;
    };
    for (let n = 0; (await held()) < 0; n++) {
      if (n > 2000) throw new Error(`the PUT never reached the daemon\n${d.stderr().slice(-2000)}`);
      await sleep(25);
    }
    conn.close();
    // Resume from what the upload holds (over TLS, bytes in flight at the cut may be lost: what
    // GET says is what counts); until the daemon has seen the cut it is busy.
    for (let n = 0;; n++) {
      const r = await held();
      assert(r >= 0 && r <= cut, `the upload holds ${r} of the ${cut} bytes sent`);
      const put = await api.send("PUT", `/api/v1/blob/${hex}.tar?alg=2`, {
        body: chunked(tar.slice(r)),
        headers: { "content-range": `bytes ${r}-${tar.length - 1}/${tar.length}` },
      });
      if (put.status === 200) break;
      assertEquals([put.status, put.text], [500, "Upload busy (a call is in progress)"]);
      if (n > 200) throw new Error("the upload stayed busy after the cut");
      await sleep(50);
    }
    assertEquals((await api.send("GET", `/api/v1/blob/${hex}.tar`)).status, 404);
    const cid = await api.start(added.imageId, []);
    assertEquals(dec((await api.invoke(cid, ["Sh", "echo ok"], 30, ["PATH=/bin"])).stdout), "ok\n");
    assertMatch(d.stderr(), /serving on tcp/);
  });
});
