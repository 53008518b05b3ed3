/**
 * The detach hotkey of a terminal session, ACON's: Ctrl+Alt+O (the byte pair ESC 0x0F), then `x`
 * (or `X`). The pair is stripped from the input; the byte after it decides: `x` detaches, any
 * other byte cancels and is passed on as typed. Pure (bytes in, bytes to forward out), shared by
 * the VM console's multiplexer and `aconctl attach` / `exec -it`.
 *
 * A lone ESC at the end of a read may be the start of the pair (a slow serial line can split
 * it), so it is held: the next byte decides, or the caller's `flush()` releases it when no more
 * input came (the caller's short timer; a user pressing Esc alone in an editor must not wait for
 * the next key).
 */
export const ESC = 0x1b;
export const CTRL_O = 0x0f;

/** How the key is written in help texts. */
export const HOTKEY_TEXT = "Ctrl+Alt+O then x";

export interface HotkeyResult {
  /** Input to pass on (the hotkey's bytes removed). */
  data: Uint8Array;
  /** The hotkey was completed: the session should detach. */
  detach: boolean;
  /** With `detach`: the bytes typed after the `x`, in the same read (not for the session). */
  rest: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export class HotkeyDetector {
  /** 0: nothing pending; 1: an ESC is held; 2: the pair was typed, the next byte decides. */
  #state: 0 | 1 | 2 = 0;

  /** An ESC is held back (it may start the pair): call flush() if no input follows soon. */
  get holding(): boolean {
    return this.#state === 1;
  }

  /** The pair was typed: the next byte detaches (`x`) or cancels. */
  get armed(): boolean {
    return this.#state === 2;
  }

  feed(input: Uint8Array): HotkeyResult {
    const out: number[] = [];
    for (let i = 0; i < input.length; i++) {
      const b = input[i];
      if (this.#state === 2) {
        this.#state = 0;
        if (b === 0x78 || b === 0x58) {
          return { data: Uint8Array.from(out), detach: true, rest: input.slice(i + 1) };
        }
        // Cancelled: the byte is ordinary input (it may itself start a new pair).
      }
      if (this.#state === 1) {
        if (b === CTRL_O) {
          this.#state = 2;
          continue;
        }
        out.push(ESC);
        this.#state = 0;
      }
      if (b === ESC) this.#state = 1;
      else out.push(b);
    }
    return { data: Uint8Array.from(out), detach: false, rest: EMPTY };
  }

  /** Releases a held ESC (no more input came): the bytes to pass on now. */
  flush(): Uint8Array {
    if (this.#state !== 1) return EMPTY;
    this.#state = 0;
    return Uint8Array.of(ESC);
  }

  /** Forgets anything pending (a new session). */
  reset(): void {
    this.#state = 0;
  }
}
