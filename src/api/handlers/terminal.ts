/**
 * Terminal RPCs (interactive mode; docs/console.md): ListTerminals, Attach (server streaming:
 * scrollback, then output, then the exit), WriteTerminal, ResizeTerminal. Decode, call the hub
 * (console/terminals.ts), encode. With interactive mode off every one is refused.
 */
import { invalid, precondition } from "../../errors.ts";
import type { TerminalHub, TerminalRef } from "../../console/hub.ts";
import { MAX_WINDOW } from "../../console/terminals.ts";
import type { TerminalRef as WireRef } from "../../gen/acon_pb.ts";
import type { Handlers } from "../router.ts";

/** Largest WriteTerminal data. */
export const MAX_WRITE_BYTES = 64 * 1024;

export const MSG_TERMINALS_OFF = "interactive mode is off: there are no terminals; boot with " +
  "acond.interactive on the kernel command line (dev mode: --interactive) to get them";

function ref(r: WireRef | undefined): TerminalRef {
  if (!r) throw invalid("The request names no terminal (container_id, session)");
  return { containerId: r.containerId, session: r.session };
}

export function terminalHandlers(hub: TerminalHub, interactive: boolean): Handlers {
  const on = () => {
    if (!interactive) throw precondition(MSG_TERMINALS_OFF);
  };
  return {
    listTerminals() {
      on();
      return {
        terminals: hub.list().map((t) => ({
          terminal: t.ref,
          imageId: t.imageId,
          command: t.command,
          pid: t.pid,
          exited: t.exited,
          attached: t.attached,
          rows: t.rows,
          cols: t.cols,
        })),
      };
    },
    async *attach(req, hctx) {
      on();
      const a = hub.attach(ref(req.terminal), { scrollback: !req.noScrollback });
      // The client went (or the daemon stops): the attachment and its queue go at once, even
      // while this generator waits on a response nobody reads.
      const gone = () => a.close();
      if (hctx.signal.aborted) a.close();
      hctx.signal.addEventListener("abort", gone);
      try {
        for await (const ch of a) {
          yield {
            data: ch.data,
            dropped: BigInt(ch.dropped),
            exited: ch.exit !== undefined,
            wstatus: ch.exit?.wstatus ?? 0,
            exitSignal: ch.exit?.signal ?? false,
          };
        }
      } finally {
        hctx.signal.removeEventListener("abort", gone);
        a.close();
      }
    },
    writeTerminal(req) {
      on();
      if (req.data.length > MAX_WRITE_BYTES) {
        throw invalid(`WriteTerminal data exceeds ${MAX_WRITE_BYTES} bytes: split it`);
      }
      hub.write(ref(req.terminal), req.data);
      return {};
    },
    resizeTerminal(req) {
      on();
      const r = ref(req.terminal);
      const fits = (n: number) => n >= 1 && n <= MAX_WINDOW;
      if (!fits(req.rows) || !fits(req.cols)) {
        throw invalid(`rows and cols must be 1..${MAX_WINDOW}`);
      }
      hub.resize(r, req.rows, req.cols);
      return {};
    },
  };
}
