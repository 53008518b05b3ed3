/**
 * Typed wrapper over ffi/layer.c: a batch of new regular files, written in one nonblocking call
 * (another thread) under a directory. write() packs the records into one buffer, so the caller's
 * data must stay unchanged until write() is called, and may be reused right after.
 */
import { SysError } from "./errors.ts";
import { FILE_CHMOD, FILE_RECORD } from "./abi.ts";
import { cstr, shim } from "./lib.ts";

const R = FILE_RECORD;
const enc = new TextEncoder();

interface Entry {
  path: Uint8Array;
  data: Uint8Array;
  mode: number;
  chmod: boolean;
  mtime: number;
}

export class FileBatch {
  readonly #entries: Entry[] = [];
  readonly #names: string[] = [];
  #bytes = 0;

  get count(): number {
    return this.#entries.length;
  }
  /** Bytes of file data in the batch. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * A new file at `path` (relative to the directory, no `..`, no symlinks on the way) with
   * permission bits `mode`; `chmod` when the umask may clear some of them; atime = mtime.
   */
  add(path: string, data: Uint8Array, mode: number, chmod: boolean, mtime: number): void {
    this.#entries.push({ path: enc.encode(path), data, mode, chmod, mtime });
    this.#names.push(path);
    this.#bytes += data.length;
  }

  #pack(): Uint8Array<ArrayBuffer> {
    let size = 0;
    for (const e of this.#entries) size += R.SIZE + e.path.length + e.data.length;
    const buf = new Uint8Array(size);
    const view = new DataView(buf.buffer);
    let off = 0;
    for (const e of this.#entries) {
      view.setUint32(off + R.PATH_LEN, e.path.length, true);
      view.setUint32(off + R.MODE, e.mode, true);
      view.setUint32(off + R.FLAGS, e.chmod ? FILE_CHMOD : 0, true);
      view.setUint32(off + R.RESERVED, 0, true);
      view.setBigInt64(off + R.MTIME, BigInt(e.mtime), true);
      view.setBigUint64(off + R.DATA_LEN, BigInt(e.data.length), true);
      off += R.SIZE;
      buf.set(e.path, off);
      off += e.path.length;
      buf.set(e.data, off);
      off += e.data.length;
    }
    return buf;
  }

  /**
   * Packs the batch (copying the data: the caller's views are free afterwards) and writes it on
   * another thread. Throws SysError naming the file that failed.
   */
  write(dir: string): Promise<void> {
    const buf = this.#pack();
    const names = this.#names;
    const count = this.#entries.length;
    const failed = new Uint32Array(1);
    const dirC = cstr(dir);
    return shim().shim_write_files(dirC, buf, BigInt(buf.length), count, failed).then(
      (ret) => {
        const n = Number(ret);
        if (n < 0) throw new SysError(-n, "write_files", `${dir}/${names[failed[0]] ?? "?"}`);
        // dirC, buf and failed stay referenced until the call is done.
        void dirC;
      },
    );
  }
}
