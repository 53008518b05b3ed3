/**
 * The idle power-off timer (acond.timeout). ACON's semantics minus its defects (behaviour file
 * §3.7): the VM powers off after `timeout` seconds in which no request was served or in flight
 * and nothing was running; every request restarts the countdown (ACON disarmed it for good
 * after the first RPC unless a child exited later); 0 disables it.
 */
export class IdleTimer {
  #timeoutMs: number;
  #busy: () => boolean;
  #onIdle: () => void;
  #inFlight = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;

  /** busy(): true while something runs that must keep the VM up (containers). */
  constructor(timeoutMs: number, busy: () => boolean, onIdle: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#busy = busy;
    this.#onIdle = onIdle;
    this.#arm();
  }

  #arm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#stopped || this.#timeoutMs <= 0) return;
    const t = setTimeout(() => {
      this.#timer = null;
      if (this.#stopped) return;
      if (this.#inFlight > 0 || this.#busy()) this.#arm();
      else {
        this.#stopped = true;
        this.#onIdle();
      }
    }, this.#timeoutMs);
    this.#timer = t;
    Deno.unrefTimer(t);
  }

  /** A request started. */
  begin(): void {
    this.#inFlight++;
    this.#arm();
  }

  /** A request ended (the countdown restarts from here). */
  end(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
