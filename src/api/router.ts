/**
 * The Connect router (Connect, gRPC-web and gRPC; gRPC's trailers ride on the Response:
 * api/trailers.ts): one handler set per concern (./handlers/*), merged, each method wrapped so
 * that every error becomes a Connect error with a clear message and PID 1 never sees a throw.
 */
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createConnectRouter,
  type ServiceImpl,
} from "@connectrpc/connect";
import type { DescMethodUnary } from "@bufbuild/protobuf";
import { AconService } from "../gen/acon_pb.ts";
import { toConnectError } from "./errors.ts";
import { checkMessages, refuseMalformed } from "./malformed.ts";
import { fetchHandlerKeepingTrailers } from "./trailers.ts";
import { connectUnary } from "./unary.ts";

export type Handlers = Partial<ServiceImpl<typeof AconService>>;

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

function wrap(name: string, fn: AnyFn): AnyFn {
  // Server-streaming handlers are async generators: wrap the iteration, not just the call.
  if (fn.constructor?.name === "AsyncGeneratorFunction") {
    return async function* (...args: unknown[]) {
      try {
        yield* fn(...args);
      } catch (e) {
        throw toConnectError(e, name);
      }
    };
  }
  return async (...args: unknown[]) => {
    try {
      return await fn(...args);
    } catch (e) {
      throw toConnectError(e, name);
    }
  };
}

export function mergeHandlers(sets: Handlers[]): Handlers {
  const out: Record<string, AnyFn> = {};
  for (const set of sets) {
    for (const [name, fn] of Object.entries(set)) {
      if (name in out) throw new Error(`RPC ${name} has two handlers`);
      out[name] = wrap(name, fn as AnyFn);
    }
  }
  return out as Handlers;
}

/**
 * Builds path → fetch handler for the merged handlers. Each method's Connect handler (three
 * protocols' worth of closures) is made on its first call: boot makes none, and most RPCs are
 * never called in a VM's life. Connect unary POSTs of unary methods are answered by
 * api/unary.ts without it (`fast: false`: every call through connect-es, for the test that
 * compares the two).
 */
export function buildRoutes(
  handlers: Handlers,
  readMaxBytes: number,
  shutdownSignal?: AbortSignal,
  o: { fast?: boolean } = {},
): Map<string, (req: Request) => Promise<Response>> {
  // shutdownSignal: every call's context.signal aborts with it (streams end; the daemon's stop).
  const interceptors = [refuseMalformed];
  const router: ConnectRouter = createConnectRouter({ readMaxBytes, shutdownSignal, interceptors });
  const impls = handlers as Record<string, AnyFn | undefined>;
  const routes = new Map<string, (req: Request) => Promise<Response>>();
  for (const method of AconService.methods) {
    let route: ((req: Request) => Promise<Response>) | undefined;
    const impl = () =>
      impls[method.localName] ?? (() => {
        throw new ConnectError(`RPC ${method.name} is not implemented`, Code.Unimplemented);
      });
    const make = () => {
      router.rpc(method, impl() as never);
      return fetchHandlerKeepingTrailers(router.handlers[router.handlers.length - 1]);
    };
    const full = checkMessages(method.input, readMaxBytes, (req) => (route ??= make())(req));
    const unary = { readMaxBytes, shutdownSignal, interceptors };
    routes.set(
      `/${AconService.typeName}/${method.name}`,
      method.methodKind === "unary" && o.fast !== false
        ? connectUnary(method as DescMethodUnary, impl, unary, full)
        : full,
    );
  }
  return routes;
}
