/**
 * Handler sets loaded on first use. Boot only has to answer; the modules behind most RPCs (image
 * verification, the tar engine, containers, reports) and what they import (node:crypto, ASN.1)
 * cost seconds to load under emulation, so they are imported when one of their RPCs is first
 * called. Every method of the service the eager sets do not implement gets a stub that loads the
 * deferred sets once (a failed load is retried on the next call) and forwards the call.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { AconService } from "../gen/acon_pb.ts";
import { type Handlers, mergeHandlers } from "./router.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

export function deferHandlers(eager: Handlers[], load: () => Promise<Handlers[]>): Handlers {
  const now = new Set(eager.flatMap((set) => Object.keys(set)));
  let loading: Promise<Record<string, AnyFn>> | null = null;
  const loaded = () => {
    loading ??= load().then((sets) => {
      const merged = mergeHandlers(sets) as Record<string, AnyFn>;
      const twice = Object.keys(merged).filter((n) => now.has(n));
      if (twice.length) throw new Error(`RPC ${twice.join(", ")} has two handlers`);
      return merged;
    }).catch((e) => {
      loading = null;
      throw e;
    });
    return loading;
  };
  const target = async (name: string): Promise<AnyFn> => {
    const fn = (await loaded())[name];
    if (!fn) throw new ConnectError(`RPC ${name} is not implemented`, Code.Unimplemented);
    return fn;
  };
  const stubs: Record<string, AnyFn> = {};
  for (const m of AconService.methods) {
    const name = m.localName;
    if (now.has(name)) continue;
    stubs[name] = m.methodKind === "server_streaming"
      ? async function* (...args: unknown[]) {
        yield* (await target(name))(...args);
      }
      : async (...args: unknown[]) => await (await target(name))(...args);
  }
  return mergeHandlers([...eager, stubs as Handlers]);
}
