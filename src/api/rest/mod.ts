/**
 * ACON's REST API (`/api/v1/...`, what aconcli speaks; docs/api.md "REST (ACON compatibility)"):
 * a small router and thin endpoints that decode ACON's inputs (query strings, multipart and
 * urlencoded forms, path segments), call the Connect handler set (the same services, loaded on
 * first use as for Connect), and encode ACON's answers: snake_case JSON with byte fields as
 * arrays of numbers, and errors as a plain-text message with ACON's HTTP status (400 invalid
 * argument, 401 permission denied, 408 deadline exceeded; what ACON had no code for is its 500).
 * Bodies are bounded as the Connect API's are; it is one prefix route, on the listeners (and
 * behind the peer guard) of the Connect API.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { AconService } from "../../gen/acon_pb.ts";
import type { Uploads } from "../../image/upload/table.ts";
import { toConnectError } from "../errors.ts";
import type { Handlers } from "../router.ts";
import type { Route } from "../server.ts";
import { RestBlobs } from "./blob.ts";
import {
  concatParts,
  intField,
  lastPart,
  partLines,
  readForm,
  readMultipart,
  RestInputError,
  stringField,
} from "./inputs.ts";

/** Every REST path starts so (a prefix route of the listeners' table). */
export const REST_PREFIX = "/api/v1/";

export interface RestDeps {
  /** The Connect handler set (api/deferred.ts): the REST endpoints call its methods. */
  handlers: Handlers;
  /** The daemon's one upload table. */
  uploads: () => Promise<Uploads>;
  /** Largest multipart body, as Connect's read limit. */
  maxBody: number;
  /** Aborts the calls' signals when the daemon stops. */
  shutdownSignal?: AbortSignal;
}

/** ACON's HTTP status per error code (behaviour §3.3); Unavailable is our body budget's. */
const STATUS: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.PermissionDenied]: 401,
  [Code.DeadlineExceeded]: 408,
  [Code.Unavailable]: 503,
};

/** ACON's answer when no identity provider is configured (it never is here: §3.5). */
export const MSG_NO_IDP = "Invalid openid user from Idp server: no identity provider is " +
  "configured (acond does not support acond.openid_user), so no login can succeed; the API " +
  "needs none: call it without an Authorization header (aconcli: --nologin)";

const u8 = (b: Uint8Array) => Array.from(b);

/** A part as text (the Connect API takes the manifest as a string too). */
function utf8(b: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(b);
  } catch {
    throw new RestInputError(400, `The ${what} part is not UTF-8 text`);
  }
}

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}

const ok = () => new Response(null, { status: 200 });

function text(status: number, message: string): Response {
  return new Response(message, { status, headers: { "content-type": "text/plain" } });
}

type Method = keyof typeof AconService.method;
// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

interface Call {
  req: Request;
  url: URL;
  /** The path's captured segments, decoded. */
  args: string[];
  /** The path's `{id}` (group `id`), 0 when it has none. */
  id: number;
}

type Endpoint = (c: Call) => Promise<Response>;

/** A path segment that must be a u32 (ACON: a non-numeric {id} is a 404). */
function u32Segment(s: string): number | null {
  if (!/^\d{1,10}$/.test(s) || Number(s) > 0xffffffff) return null;
  return Number(s);
}

export function restRoute(deps: RestDeps): Route {
  const blobs = new RestBlobs(deps.uploads);
  const impls = deps.handlers as Record<string, AnyFn | undefined>;

  /** Calls the Connect handler of `name` with a request message made from `init`. */
  // deno-lint-ignore no-explicit-any
  const call = async (name: Method, c: Call, init: Record<string, unknown>): Promise<any> => {
    const method = AconService.method[name];
    const fn = impls[name];
    if (!fn) throw new ConnectError(`RPC ${method.name} is not implemented`, Code.Unimplemented);
    const hctx = createHandlerContext({
      service: AconService,
      method,
      protocolName: "rest",
      requestMethod: c.req.method,
      url: c.req.url,
      requestSignal: c.req.signal,
      shutdownSignal: deps.shutdownSignal,
      requestHeader: c.req.headers,
    });
    try {
      return await fn(create(method.input, init as never), hctx);
    } finally {
      hctx.abort();
    }
  };

  const multipart = (c: Call) => readMultipart(c.req, deps.maxBody);

  const endpoints: [string, RegExp, Endpoint][] = [
    ["POST", /^manifest$/, async (c) => {
      const parts = await multipart(c);
      const r = await call("addManifest", c, {
        manifest: utf8(lastPart(parts, "manifest"), "manifest"),
        signature: lastPart(parts, "sig"),
        certificate: lastPart(parts, "cert"),
      });
      return json({ image_id: r.imageId, missing_layers: r.missingLayers });
    }],
    ["POST", /^manifest\/finalize$/, async (c) => {
      await call("finalize", c, {});
      return ok();
    }],
    ["GET", /^manifest\/([^/]+)\/([^/]+)\/([^/]+)$/, async (c) => {
      const r = await call("getManifest", c, { imageId: c.args.join("/") });
      return json({ manifest: r.manifest, certificate: u8(r.certificate) });
    }],
    ["PUT", /^blob\/([^/]+)$/, async (c) => {
      const alg = intField(c.url.searchParams, "alg", "u32", 2n);
      await blobs.put(c.args[0], Number(alg), c.req);
      return ok();
    }],
    ["GET", /^blob\/([^/]+)$/, async (c) => {
      const size = await blobs.size(c.args[0]);
      if (size === null) return text(404, `No upload of ${c.args[0]} in progress`);
      return json(size);
    }],
    ["POST", /^container\/start$/, async (c) => {
      const imageId = stringField(c.url.searchParams, "image_id");
      const parts = await multipart(c);
      const r = await call("start", c, { imageId, envs: partLines(parts, "env") });
      return json({ container_id: r.containerId });
    }],
    ["POST", /^container\/(?<id>\d+)\/restart$/, async (c) => {
      const timeout = intField(c.url.searchParams, "timeout", "u64", 30n);
      await call("restart", c, { containerId: c.id, timeout });
      return ok();
    }],
    ["POST", /^container\/(?<id>\d+)\/exec$/, async (c) => {
      const q = c.url.searchParams;
      const timeout = intField(q, "timeout", "u64", 30n);
      const captureSize = intField(q, "capture_size", "u64", 0x20000n);
      const parts = await multipart(c);
      const cmd = partLines(parts, "cmd");
      const r = await call("exec", c, {
        containerId: c.id,
        command: cmd[0] ?? "",
        arguments: cmd.slice(1),
        envs: partLines(parts, "env"),
        stdin: concatParts(parts, "stdin"),
        timeout,
        captureSize,
      });
      return json({ stdout: u8(r.stdout), stderr: u8(r.stderr) });
    }],
    ["POST", /^container\/(?<id>\d+)\/kill$/, async (c) => {
      const form = await readForm(c.req);
      const signalNum = Number(intField(form, "signal_num", "i32"));
      await call("kill", c, { containerId: c.id, signalNum });
      return ok();
    }],
    ["GET", /^container\/(?:(?<id>\d+)\/)?inspect$/, async (c) => {
      const r = await call("inspect", c, { containerId: c.id });
      // deno-lint-ignore no-explicit-any
      const info = r.info.map((i: any) => ({
        container_id: i.containerId,
        state: i.state,
        wstatus: i.wstatus,
        image_id: i.imageId,
        exe_path: i.exePath,
      }));
      return json({ info });
    }],
    ["GET", /^container\/report$/, async (c) => {
      const q = c.url.searchParams;
      const nonceLo = intField(q, "nonce_lo", "u64");
      const nonceHi = intField(q, "nonce_hi", "u64");
      const requestType = Number(intField(q, "request_type", "u32"));
      const r = await call("report", c, { nonceLo, nonceHi, requestType });
      const mrlog: Record<string, { logs: string[] }> = {};
      for (const [k, v] of Object.entries(r.mrlog as Record<string, { logs: string[] }>)) {
        mrlog[k] = { logs: v.logs };
      }
      return json({ data: u8(r.data), mrlog, attestation_data: r.attestationData });
    }],
    ["POST", /^oauth2\/login$/, async (c) => {
      const form = await readForm(c.req);
      for (const f of ["client_id", "client_secret", "device_code"]) stringField(form, f);
      intField(form, "expires_in", "u64");
      if (form.has("session_timeout")) intField(form, "session_timeout", "i64");
      return text(500, MSG_NO_IDP);
    }],
    // No sessions exist (no identity provider): rotating the key is a no-op.
    ["POST", /^oauth2\/logout$/, () => Promise.resolve(ok())],
  ];

  return async (req) => {
    const url = new URL(req.url);
    const rest = url.pathname.slice(REST_PREFIX.length);
    for (const [method, re, endpoint] of endpoints) {
      const m = re.exec(rest);
      if (!m || req.method !== method) continue;
      let args: string[];
      try {
        args = m.slice(1).filter((a) => a !== undefined).map(decodeURIComponent);
      } catch {
        break;
      }
      const id = m.groups?.id === undefined ? 0 : u32Segment(m.groups.id);
      if (id === null) break; // ACON: an {id} that is not a u32 is a 404
      try {
        return await endpoint({ req, url, args, id });
      } catch (e) {
        if (e instanceof RestInputError) return text(e.status, e.message);
        const ce = toConnectError(e, `REST ${req.method} ${url.pathname}`);
        return text(STATUS[ce.code] ?? 500, ce.rawMessage);
      } finally {
        // Whatever of the body the endpoint did not read is not wanted.
        if (!req.bodyUsed) req.body?.cancel().catch(() => {});
      }
    }
    await req.body?.cancel().catch(() => {});
    return text(404, `No REST endpoint ${req.method} ${url.pathname} (docs/api.md)`);
  };
}
