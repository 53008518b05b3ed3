/**
 * The raw, streamed layer upload: `PUT /acon.grpc.AconService/blobs/<upload_id>` with the layer's
 * bytes as the request body, into an upload made by BeginBlob (finished by CommitBlob). It skips
 * the per-chunk protobuf framing of WriteBlob, which costs more CPU than hashing at these sizes
 * (docs/layers.md). Resumable: the body starts at `Content-Range: bytes S-*\/TOTAL` (or
 * `bytes S-E/TOTAL`) or `?offset=S`, and S must be what the upload has received. Answers 200 with
 * JSON {"uploadId","received"}; errors are Connect's JSON error {"code","message"}.
 * Served on the same listeners as the Connect API, hence with the same access.
 */
import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { AcondError, invalid } from "../errors.ts";
import type { StreamDeclared } from "../image/upload/body.ts";
import type { Uploads } from "../image/upload/table.ts";
import { toConnectError } from "./errors.ts";
import type { Route } from "./server.ts";
import { BLOB_STREAM_PREFIX, UPLOAD_ID } from "./wire.ts";

/** HTTP status per error code (Connect's own table, except where HTTP has a closer word). */
const STATUS: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.PermissionDenied]: 403,
  [Code.NotFound]: 404,
  [Code.FailedPrecondition]: 409,
  [Code.ResourceExhausted]: 413,
  [Code.DeadlineExceeded]: 504,
  [Code.Unimplemented]: 501,
};

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function errorResponse(e: unknown): Response {
  const ce = toConnectError(e, "PutBlob");
  return json(STATUS[ce.code] ?? 500, { code: codeToString(ce.code), message: ce.rawMessage });
}

const DIGITS = /^\d{1,16}$/;

function count(text: string, what: string): number {
  const n = Number(text);
  if (!DIGITS.test(text) || !Number.isSafeInteger(n)) throw invalid(`Bad ${what}: ${text}`);
  return n;
}

/** Where the body starts and what its sender says about sizes; pure. */
export function parseStreamRequest(
  headers: Headers,
  query: URLSearchParams,
): { offset: number; declared: StreamDeclared } {
  const declared: StreamDeclared = {};
  const cl = headers.get("content-length");
  if (cl !== null) declared.length = count(cl, "Content-Length");
  let offset: number | undefined;
  const range = headers.get("content-range");
  if (range !== null) {
    const m = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(range.trim());
    if (!m) throw invalid(`Bad Content-Range "${range}": expected "bytes START-*/TOTAL"`);
    offset = count(m[1], "Content-Range start");
    if (m[3] !== "*") declared.total = count(m[3], "Content-Range total");
    if (m[2] !== "*") {
      const end = count(m[2], "Content-Range end");
      if (end < offset) throw invalid(`Bad Content-Range "${range}": end before start`);
      if (declared.length !== undefined && declared.length !== end - offset + 1) {
        throw invalid(`Content-Range "${range}" disagrees with Content-Length ${declared.length}`);
      }
      declared.length = end - offset + 1;
    }
  }
  const q = query.get("offset");
  if (q !== null) {
    const o = count(q, "offset");
    if (offset !== undefined && o !== offset) {
      throw invalid(`offset=${o} disagrees with Content-Range start ${offset}`);
    }
    offset = o;
  }
  return { offset: offset ?? 0, declared };
}

/**
 * The route, over the daemon's upload table (the one the Connect RPCs use). `uploads` gives it; the
 * upload machinery (tar engine, hashers) is loaded on the first request that needs it, like the
 * handler sets deferred at boot (api/deferred.ts).
 */
export function blobStreamRoute(uploads: () => Promise<Uploads>): Route {
  return async (req) => {
    try {
      const url = new URL(req.url);
      const id = url.pathname.slice(BLOB_STREAM_PREFIX.length);
      if (req.method !== "PUT") {
        await req.body?.cancel();
        return json(405, { code: "invalid_argument", message: "Use PUT with the layer's bytes" }, {
          allow: "PUT",
        });
      }
      if (!UPLOAD_ID.test(id)) throw new AcondError("not_found", "Unknown or expired upload id");
      const { offset, declared } = parseStreamRequest(req.headers, url.searchParams);
      const st = await (await uploads()).writeStream(id, offset, req.body, declared);
      return json(200, { uploadId: st.uploadId, received: Number(st.received) });
    } catch (e) {
      // Whatever of the body was not read is not wanted any more.
      req.body?.cancel().catch(() => {});
      return errorResponse(e);
    }
  };
}
