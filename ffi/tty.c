/* The VM console's terminal settings, for the console multiplexer (src/console/mux/): save and
 * restore its termios, switch it to raw input (with or without output processing), read its
 * window size. The saved state is opaque to the caller: TTY_STATE_SIZE bytes. Every change uses
 * TCSANOW (TCSADRAIN would wait for a stalled serial line to drain: never block PID 1). */
#define _GNU_SOURCE
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "acond_shim.h"

_Static_assert(sizeof(struct termios) <= TTY_STATE_SIZE, "TTY_STATE_SIZE holds a struct termios");

/* tcgetattr into state (len >= TTY_STATE_SIZE): 0 or -errno (-ENOTTY: not a terminal). */
int32_t shim_tty_save(int32_t fd, uint8_t *state, uint64_t len) {
  if (len < TTY_STATE_SIZE) return -ERANGE;
  struct termios t;
  if (tcgetattr(fd, &t) < 0) return -errno;
  memset(state, 0, TTY_STATE_SIZE);
  memcpy(state, &t, sizeof t);
  return 0;
}

/* Sets a state saved by shim_tty_save, as it was. */
int32_t shim_tty_restore(int32_t fd, const uint8_t *state, uint64_t len) {
  if (len < TTY_STATE_SIZE) return -ERANGE;
  struct termios t;
  memcpy(&t, state, sizeof t);
  return SHIM_RET(tcsetattr(fd, TCSANOW, &t));
}

/* Raw mode derived from a saved state (cfmakeraw: no echo, no line editing, no signals, 8 bits);
 * output_processing keeps OPOST|ONLCR (the prompt: "\n" starts a new line), else none at all (a
 * terminal's output goes through as it is). VMIN 1, VTIME 0. */
int32_t shim_tty_raw(int32_t fd, const uint8_t *state, uint64_t len, int32_t output_processing) {
  if (len < TTY_STATE_SIZE) return -ERANGE;
  struct termios t;
  memcpy(&t, state, sizeof t);
  cfmakeraw(&t);
  if (output_processing) t.c_oflag |= OPOST | ONLCR;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  return SHIM_RET(tcsetattr(fd, TCSANOW, &t));
}

/* TIOCGWINSZ: out = {rows, cols}; {0, 0} when the terminal does not know (a serial line). */
int32_t shim_tty_winsize(int32_t fd, int32_t *out) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return -errno;
  out[0] = ws.ws_row;
  out[1] = ws.ws_col;
  return 0;
}
