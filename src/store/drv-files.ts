/**
 * `.drv` files created while lowering still runs. Lowering a big graph spends most of its
 * writing time in the kernel creating files (one directory, tens of thousands of names), which
 * is the time of a second core, not of the hashing: a worker thread creates each file as soon as
 * its derivation is finalized, and `LocalStore.writeDerivations` later registers what it created.
 *
 * The worker follows the store's rules for text items (store.ts, writeTextItems): a file is
 * created at its final name with O_EXCL (read-only, mtime 1), never truncated or opened for
 * writing when it exists; a name already taken is left alone and reported, and the store deals
 * with it (a valid item is skipped, a crash leftover is replaced atomically). Files become
 * durable by one sync of the file system when the worker finishes, and rows are committed only
 * after that. When lowering fails, `abort` has the store delete what the worker created, but
 * for what another process registered meanwhile (see LocalStore.removeUnregistered). A file left
 * by a killed process is an invalid leftover (possibly short): nothing reads it, the next add of
 * that path replaces it, and the collector removes it once it is an hour old.
 *
 * The worker starts only after `startAfter` derivations, so commands that lower a few hundred
 * derivations (most builds) do not pay for a thread.
 */
import { receiveMessageOnPort, MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { syncWorkerScript } from './sync.js';

const UMASK_HIDES_READ = (process.umask() & 0o444) !== 0;
// Bytes handed over per message (transferred, not copied again).
const BATCH_BYTES = 256 << 10;
// How long finish() waits for the worker before giving up on it (the store then writes itself).
const WAIT_MS = 120_000;

const WORKER = syncWorkerScript(`
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { port, flag, dir, durable, umaskHidesRead } = workerData;
const created = [];
const done = () => {
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  parentPort.close();
};
parentPort.on('message', (m) => {
  if (m.discard) {
    // Lowering failed: nothing will be registered. The store removes what this worker made,
    // except what another process registered meanwhile (it may have taken the same names).
    port.postMessage({ created, synced: false });
    done();
    return;
  }
  if (m.end) {
    let synced = !durable || created.length === 0;
    if (!synced) {
      try { syncFileSystem(dir); synced = true; } catch {}
    }
    port.postMessage({ created, synced });
    done();
    return;
  }
  const bytes = new Uint8Array(m.buf);
  for (let i = 0; i < m.dests.length; i++) {
    const dest = m.dests[i];
    let fd;
    try { fd = fs.openSync(dest, 'wx', 0o444); } catch { continue; } // taken (or failing): the store decides
    try {
      // A short write (a disk filling up) is continued: the next write fails with the reason.
      for (let off = m.offsets[i]; off < m.offsets[i + 1]; ) off += fs.writeSync(fd, bytes, off, m.offsets[i + 1] - off);
      if (umaskHidesRead) fs.fchmodSync(fd, 0o444);
      fs.futimesSync(fd, 1, 1);
      fs.closeSync(fd);
      created.push(dest);
    } catch {
      try { fs.closeSync(fd); } catch {}
      try { fs.rmSync(dest, { force: true }); } catch {}
    }
  }
});
`);

export interface DerivationFilesResult {
  /** Physical paths of the files the worker created, complete (and durable when `synced`). */
  created: Set<string>;
  synced: boolean;
}

export class DerivationFiles {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private flag: Int32Array | undefined;
  private waiting: Array<{ dest: string; bytes: Uint8Array }> = [];
  private dests: string[] = [];
  private offsets: number[] = [0];
  private buf = new Uint8Array(BATCH_BYTES);
  private used = 0;
  private result: DerivationFilesResult | undefined;
  private failed = false;
  private ended = false;

  constructor(
    private readonly storeRoot: string,
    private readonly storeDir: string,
    private readonly durable: boolean,
    private readonly startAfter = 1000,
    /** Removes those of the files that no process registered (the store's, under its write lock). */
    private readonly removeUnregistered: (dests: readonly string[]) => void = () => {},
    /**
     * The store's count of such removals when this writer was made, before any file of it was
     * created: the store checks it again before registering (see LocalStore.removeUnregistered).
     */
    readonly removalsAtStart?: number,
  ) {}

  /** The physical file of a `.drv` path of this store. */
  private physical(drvPath: string): string {
    return this.storeRoot + drvPath.slice(this.storeDir.length);
  }

  /** Hands a finalized derivation's bytes over (copied: the caller may reuse them). */
  add(drvPath: string, bytes: Uint8Array | undefined): void {
    if (this.ended || this.failed || bytes === undefined) return;
    const dest = this.physical(drvPath);
    if (!this.worker) {
      this.waiting.push({ dest, bytes });
      if (this.waiting.length < this.startAfter) return;
      if (!this.start()) return;
      const waiting = this.waiting;
      this.waiting = [];
      for (const w of waiting) this.put(w.dest, w.bytes);
      return;
    }
    this.put(dest, bytes);
  }

  private start(): boolean {
    try {
      const { port1, port2 } = new MessageChannel();
      this.flag = new Int32Array(new SharedArrayBuffer(4));
      this.worker = new Worker(WORKER, {
        eval: true,
        workerData: { port: port2, flag: this.flag, dir: this.storeRoot, durable: this.durable, umaskHidesRead: UMASK_HIDES_READ },
        transferList: [port2],
      });
      this.worker.unref();
      this.worker.on('error', () => (this.failed = true));
      this.port = port1;
      return true;
    } catch {
      this.failed = true;
      this.waiting = [];
      return false;
    }
  }

  private put(dest: string, bytes: Uint8Array): void {
    if (this.used + bytes.length > this.buf.length) this.flush(bytes.length);
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
    this.dests.push(dest);
    this.offsets.push(this.used);
  }

  private flush(next = 0): void {
    if (this.dests.length) {
      const buf = this.buf.buffer as ArrayBuffer;
      this.worker!.postMessage({ dests: this.dests, offsets: this.offsets, buf }, [buf]);
    }
    this.buf = new Uint8Array(Math.max(BATCH_BYTES, next));
    this.used = 0;
    this.dests = [];
    this.offsets = [0];
  }

  /**
   * Waits until the worker has created (and synced) every file handed over; synchronous, so it
   * can run inside a database transaction. Without a worker (too few derivations, or it could
   * not start or failed), nothing was created: the store writes every file itself.
   */
  finish(): DerivationFilesResult {
    if (this.result) return this.result;
    this.end();
    if (!this.worker || this.failed) return (this.result = { created: new Set(), synced: false });
    Atomics.wait(this.flag!, 0, 0, WAIT_MS);
    const message = Atomics.load(this.flag!, 0) === 1 ? receiveMessageOnPort(this.port!) : undefined;
    this.port!.close();
    if (!message) {
      // No answer: stop it, and let the store write (and replace) every file itself.
      void this.worker.terminate();
      return (this.result = { created: new Set(), synced: false });
    }
    const m = message.message as { created: string[]; synced: boolean };
    return (this.result = { created: new Set(m.created), synced: m.synced });
  }

  /**
   * No more derivations will come: the worker creates the last files and syncs them while the
   * caller goes on (the store inserts the rows meanwhile); `finish` waits for it. Further
   * `add`s are ignored.
   */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.waiting = [];
    if (!this.worker || this.failed) return;
    this.flush();
    this.worker.postMessage({ end: true });
  }

  /**
   * Stops the worker. Before `finish` (lowering failed), the store first deletes every file it
   * created that no process registered, so a failed command leaves nothing behind; a kill -9 cannot, and leaves unregistered files
   * (possibly short) that the next add of their path replaces and the collector removes.
   */
  abort(): void {
    const discard = !this.result && !this.ended && this.worker !== undefined && !this.failed;
    this.failed = true;
    this.waiting = [];
    if (discard) {
      this.ended = true;
      this.worker!.postMessage({ discard: true });
      Atomics.wait(this.flag!, 0, 0, WAIT_MS);
      const message = Atomics.load(this.flag!, 0) === 1 ? receiveMessageOnPort(this.port!) : undefined;
      const created = (message?.message as { created?: string[] } | undefined)?.created ?? [];
      try {
        if (created.length) this.removeUnregistered(created);
      } catch {
        // Left as a killed process leaves them: the next add of a path replaces its file, the collector removes the rest.
      }
    }
    if (this.worker) void this.worker.terminate();
    this.port?.close();
  }
}
