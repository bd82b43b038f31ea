/**
 * The output end of every pack format: the compressors table (`--compression`) and the
 * destination file. A pack format produces a stream of bytes (a tar, a docker archive) and
 * hands it to a `ByteSink` opened here; the sink compresses it and writes it to a temporary
 * file beside the destination, which `writeAtomically` renames into place only when the whole
 * pack succeeded. A failed or interrupted pack therefore never leaves a file at the destination.
 *
 * Every compressor is run with fixed settings so that the same input gives the same bytes on
 * every run and on every machine with the same tool versions: gzip is Node's zlib (no file
 * name, mtime 0, like `gzip -n`), xz and zstd are the usual commands run single-threaded with
 * an explicit level and an environment stripped of the variables that change their defaults.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { accessSync, chmodSync, closeSync, constants as fsConstants, lstatSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import type { ZlibOptions } from 'node:zlib';
import type { TransformOptions } from 'node:stream';
import { dyingWithParent } from '../child.js';
import { OWNED_AT, ownerWhere, removeLeftoversOfDead } from '../store/lock.js';
import { TsdslError, didYouMean } from '../errors.js';
import type { PackFormat, PackOptions } from './formats.js';
import { INTERRUPTS } from '../signals.js';

/**
 * Where a pack writes its bytes, in order. `write` may return a promise: the caller awaits it
 * before writing more (backpressure). A chunk must not be modified after it is written until
 * the sink calls `release` (given), which says it is done with those bytes and the caller may
 * reuse the buffer.
 */
export interface ByteSink {
  write(chunk: Buffer, release?: () => void): void | Promise<void>;
  /** Flushes everything and closes; resolves once every byte is in the file. */
  close(): Promise<void>;
  /** Gives up after an error: stops any compressor process and closes the file. Never throws. */
  abort(): void;
}

/** Options every compressor takes. */
export interface CompressOptions {
  /** Compression level; each compressor has a documented default and range. */
  readonly level?: number;
}

/** One entry of the compressors table. */
export interface Compressor {
  readonly name: string;
  readonly description: string;
  /** Appended to a pack's file name: `.gz`, `.xz`, `.zst` or the empty string. */
  readonly extension: string;
  readonly defaultLevel: number | undefined;
  readonly levels: readonly [number, number] | undefined;
  /**
   * Its sink is done with each chunk when `write` returns (no queue in front of the
   * compressor): the caller may read files synchronously and reuse one buffer. True for none,
   * and for xz and zstd, which are fed through a blocking pipe as GNU tar feeds them.
   */
  readonly synchronous: boolean;
  /** Compresses what is written to the sink into the open file descriptor `fd` (not closed). */
  open(fd: number, options?: CompressOptions): ByteSink;
  /** `mksquashfs` options selecting the same compression (and level) for a squashfs image. */
  squashfsOptions(options?: CompressOptions): string[];
  /**
   * Suffix of the OCI layer media type (`application/vnd.oci.image.layer.v1.tar` + suffix), or
   * undefined when the OCI image spec has no media type for this compression.
   */
  readonly ociMediaSuffix: string | undefined;
}

// Output of the compressors goes out in chunks of this size; zlib's default (16 KiB) costs a
// thread-pool round trip per 16 KiB, which shows on a 300 MB pack.
const ZLIB_CHUNK = 256 * 1024;
// Bytes queued in front of a compressor before `write` makes the caller wait: enough for the
// reader to prepare the next blocks while the compressor works on the previous ones.
const QUEUE = 4 * 1024 * 1024;

/** Resolves after the event loop has had a turn (timers excepted): I/O callbacks run meanwhile. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A sink that writes straight to the file descriptor. */
function fileSink(fd: number): ByteSink {
  return {
    write(chunk, release) {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      release?.();
    },
    async close() {},
    abort() {},
  };
}

/** Waits until `stream` can take more, failing if it errors or closes first. */
function drained(stream: EventEmitter, failure: () => Error | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('error', fail);
      stream.off('close', closed);
      resolve();
    };
    const fail = (e: unknown): void => {
      stream.off('drain', done);
      stream.off('close', closed);
      reject(e);
    };
    const closed = (): void => {
      stream.off('drain', done);
      stream.off('error', fail);
      reject(failure() ?? new Error('compressor stopped before the end of its input'));
    };
    stream.once('drain', done);
    stream.once('error', fail);
    stream.once('close', closed);
  });
}

/**
 * gzip with Node's zlib. The header zlib writes carries no file name and mtime 0, as `gzip -n`
 * does. Level 6 is gzip's own default: on shared libraries level 9 took 1.9 times as long
 * for a result 0.2 % smaller (level 1: half the time, 8 % larger).
 */
function gzipSink(fd: number, options: CompressOptions = {}): ByteSink {
  const level = options.level ?? 6;
  // zlib streams pass stream options on to their Transform (the typings omit it).
  const zopts: ZlibOptions & TransformOptions = {
    level,
    memLevel: 8,
    windowBits: 15,
    strategy: zlibConstants.Z_DEFAULT_STRATEGY,
    chunkSize: ZLIB_CHUNK,
    highWaterMark: QUEUE,
  };
  const gz = createGzip(zopts);
  let error: Error | undefined;
  gz.on('error', (e) => {
    error ??= e;
  });
  gz.on('data', (out: Buffer) => {
    if (error) return;
    try {
      let off = 0;
      while (off < out.length) off += writeSync(fd, out, off, out.length - off);
    } catch (e) {
      error = e as Error;
      gz.destroy(error);
    }
  });
  const ended = new Promise<void>((resolve, reject) => {
    gz.on('end', () => (error ? reject(error) : resolve()));
    gz.on('close', () => (error ? reject(error) : resolve()));
  });
  ended.catch(() => {});
  return {
    write(chunk, release) {
      if (error) throw error;
      // zlib calls back once it has consumed the whole chunk.
      if (!gz.write(chunk, release && (() => release()))) return drained(gz, () => error);
      // zlib works in the thread pool but needs the event loop to hand it each next piece;
      // the caller reads small files synchronously, so let the loop run once per chunk.
      return nextTurn();
    },
    async close() {
      if (error) throw error;
      gz.end();
      await ended;
      if (error) throw error;
    },
    abort() {
      error ??= new Error('aborted');
      gz.destroy();
    },
  };
}

// Variables that change what xz and zstd do by default; removed so that a user's shell
// settings cannot change a pack's bytes.
const COMPRESSOR_ENV = ['XZ_DEFAULTS', 'XZ_OPT', 'ZSTD_CLEVEL', 'ZSTD_NBTHREADS', 'GZIP'];

function compressorEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of COMPRESSOR_ENV) delete env[name];
  return env;
}

/** A sink that pipes into `command args` whose standard output is `fd`. */
/** A compressor process being watched: `error` is its failure so far, `exited` settles with its fate. */
interface Watched {
  error: Error | undefined;
  readonly exited: Promise<void>;
}

/** Collects the command's stderr and turns a spawn error or a failed exit into `error`. */
function watchCommand(child: ChildProcess, command: string, args: readonly string[], debianPackage: string, onSpawnError: () => void = () => {}): Watched {
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    if (stderr.length < 4000) stderr += s;
  });
  const watched: { error: Error | undefined; exited: Promise<void> } = { error: undefined, exited: Promise.resolve() };
  watched.exited = new Promise<void>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      watched.error ??= e.code === 'ENOENT' ? missingCommand(command, debianPackage, e) : e;
      onSpawnError();
      reject(watched.error);
    });
    child.on('close', (code, signal) => {
      if (watched.error) return reject(watched.error);
      if (code === 0) return resolve();
      watched.error = new TsdslError(`\`${command} ${args.join(' ')}\` failed (${signal ? `signal ${signal}` : `exit code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`);
      reject(watched.error);
    });
  });
  watched.exited.catch(() => {});
  return watched;
}

function commandSink(fd: number, command: string, args: readonly string[], debianPackage: string): ByteSink {
  let child: ChildProcess;
  try {
    // Killed with tsdsl (kill -9 included): a compressor left running would write on for minutes.
    const [program, argv] = dyingWithParent(command, args);
    child = spawn(program, argv, { stdio: ['pipe', fd, 'pipe'], env: compressorEnv() });
  } catch (e) {
    throw missingCommand(command, debianPackage, e);
  }
  const watched = watchCommand(child, command, args, debianPackage);
  const { exited } = watched;
  const stdin = child.stdin!;
  // EPIPE when the command dies early: the exit status (or spawn error) tells the real story.
  stdin.on('error', () => {});
  return {
    async write(chunk, release) {
      if (watched.error) throw watched.error;
      // The pipe calls back once the chunk is in the kernel.
      stdin.write(chunk, release && (() => release()));
      if (stdin.writableLength > QUEUE) {
        await Promise.race([drained(stdin, () => watched.error), exited.then(() => undefined)]);
        if (watched.error) throw watched.error;
      } else if (stdin.writableLength > 0) {
        // What the pipe could not take at once moves into it only when the event loop runs;
        // the caller reads small files synchronously, so let the loop run once per chunk.
        await nextTurn();
      }
    },
    async close() {
      if (watched.error) throw watched.error;
      stdin.end();
      await exited;
    },
    abort() {
      watched.error ??= new Error('aborted');
      stdin.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

// A blocking pipe yields to the event loop (signals, timers) after this many bytes, or this many
// milliseconds: a slow compressor (xz takes 16 MiB in several seconds) must not hold a signal.
const BLOCKING_TURN = 16 * 1024 * 1024;
const BLOCKING_TURN_MS = 100;

/**
 * The two ends of a new pipe with blocking I/O, made through a FIFO (Node has no pipe(2)):
 * opened read-write first so that neither of the other opens blocks, then unlinked.
 * Undefined when `mkfifo` cannot be run.
 */
function blockingPipe(): { read: number; write: number } | undefined {
  const fifo = join(tmpdir(), `.tsdsl-pipe-${process.pid}-${randomBytes(6).toString('hex')}`);
  const made = spawnSync('mkfifo', ['-m', '600', fifo], { stdio: 'ignore' });
  if (made.status !== 0) return undefined;
  try {
    const both = openSync(fifo, fsConstants.O_RDWR);
    try {
      const write = openSync(fifo, fsConstants.O_WRONLY);
      const read = openSync(fifo, fsConstants.O_RDONLY);
      return { read, write };
    } finally {
      closeSync(both);
    }
  } catch {
    return undefined;
  } finally {
    rmSync(fifo, { force: true });
  }
}

/**
 * A sink that pipes into `command args` (standard output `fd`) as GNU tar does: blocking
 * writes of the caller's chunks straight into the pipe, so the writer can read files
 * synchronously with no event-loop round trip per chunk (the event loop gets a turn every
 * 16 MiB, for signals). Falls back to `commandSink`, with copies of the chunks, without FIFOs.
 */
function blockingCommandSink(fd: number, command: string, args: readonly string[], debianPackage: string): ByteSink {
  const pipe = blockingPipe();
  if (!pipe) {
    const queued = commandSink(fd, command, args, debianPackage);
    return { ...queued, write: (chunk, release) => queued.write(Buffer.from(chunk), release) };
  }
  let child: ChildProcess;
  try {
    const [program, argv] = dyingWithParent(command, args);
    child = spawn(program, argv, { stdio: [pipe.read, fd, 'pipe'], env: compressorEnv() });
  } catch (e) {
    closeSync(pipe.write);
    throw missingCommand(command, debianPackage, e);
  } finally {
    closeSync(pipe.read);
  }
  let writeEnd: number | undefined = pipe.write;
  const closeWriteEnd = (): void => {
    if (writeEnd === undefined) return;
    closeSync(writeEnd);
    writeEnd = undefined;
  };
  const watched = watchCommand(child, command, args, debianPackage, closeWriteEnd);
  const { exited } = watched;
  let sinceTurn = 0;
  let lastTurn = performance.now();
  return {
    async write(chunk, release) {
      if (watched.error) throw watched.error;
      if (writeEnd === undefined) throw new Error('write after close');
      try {
        let off = 0;
        while (off < chunk.length) off += writeSync(writeEnd, chunk, off, chunk.length - off);
      } catch (e) {
        // EPIPE: the command stopped reading; its exit status says why.
        closeWriteEnd();
        await exited.catch(() => {});
        throw watched.error ?? e;
      }
      release?.();
      sinceTurn += chunk.length;
      if (sinceTurn >= BLOCKING_TURN || performance.now() - lastTurn >= BLOCKING_TURN_MS) {
        sinceTurn = 0;
        await nextTurn();
        lastTurn = performance.now();
      }
    },
    async close() {
      if (watched.error) throw watched.error;
      closeWriteEnd();
      await exited;
    },
    abort() {
      watched.error ??= new Error('aborted');
      closeWriteEnd();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

function missingCommand(command: string, debianPackage: string, cause: unknown): TsdslError {
  return new TsdslError(
    `cannot run \`${command}\`: it is not installed or not on PATH; install it (Debian: \`apt-get install ${debianPackage}\`) or choose another compressor with -C (its values are listed by \`tsdsl pack --help\`)`,
    { cause },
  );
}

function checkLevel(c: { name: string; levels: readonly [number, number] | undefined }, level: number | undefined): void {
  if (level === undefined) return;
  if (!c.levels) throw new TsdslError(`the \`${c.name}\` compressor takes no compression level`);
  const [lo, hi] = c.levels;
  if (!Number.isInteger(level) || level < lo || level > hi) {
    throw new TsdslError(`compression level ${level} is out of range for ${c.name}; use an integer from ${lo} to ${hi}`);
  }
}

/** gzip: the default for tarballs; every `tar` can read it. */
export const gzip: Compressor = {
  name: 'gzip',
  synchronous: false,
  description: 'gzip (zlib level 6, no name or timestamp in the header)',
  extension: '.gz',
  defaultLevel: 6,
  levels: [1, 9],
  open(fd, options = {}) {
    checkLevel(this, options.level);
    return gzipSink(fd, options);
  },
  squashfsOptions(options = {}) {
    checkLevel(this, options.level);
    return ['-comp', 'gzip', ...(options.level === undefined ? [] : ['-Xcompression-level', String(options.level)])];
  },
  ociMediaSuffix: '+gzip',
};

/**
 * xz: the smallest packs, slowest to make. `-T1` because multi-threaded xz splits the input
 * into blocks whose boundaries depend on the thread count, so its output depends on the machine.
 */
export const xz: Compressor = {
  name: 'xz',
  synchronous: true,
  description: 'xz (`xz -T1 -6`, single-threaded for determinism)',
  extension: '.xz',
  defaultLevel: 6,
  levels: [0, 9],
  open(fd, options = {}) {
    checkLevel(this, options.level);
    return blockingCommandSink(fd, 'xz', ['-z', '-c', '-q', '-T1', '--check=crc64', `-${options.level ?? this.defaultLevel}`], 'xz-utils');
  },
  squashfsOptions(options = {}) {
    // mksquashfs's xz has dictionary and filter options but no preset level.
    if (options.level !== undefined) throw new TsdslError('mksquashfs takes no compression level for xz; drop the level or use gzip or zstd');
    return ['-comp', 'xz'];
  },
  ociMediaSuffix: undefined,
};

/**
 * zstd: smaller than gzip and about four times faster to make (level 3, zstd's own default and
 * what `tar --zstd` uses: on a 340 MB closure 125 MB in 4 s, against gzip's 130 MB in 15 s;
 * level 19 reaches 101 MB but takes over 6 minutes). `-T1`: one thread, so that the frame
 * layout cannot depend on the number of cores.
 */
export const zstd: Compressor = {
  name: 'zstd',
  synchronous: true,
  description: 'zstd (`zstd -T1 -3`, single-threaded for determinism)',
  extension: '.zst',
  defaultLevel: 3,
  levels: [1, 19],
  open(fd, options = {}) {
    checkLevel(this, options.level);
    return blockingCommandSink(fd, 'zstd', ['-q', '-c', '-T1', '--no-progress', `-${options.level ?? this.defaultLevel}`], 'zstd');
  },
  squashfsOptions(options = {}) {
    checkLevel(this, options.level);
    return ['-comp', 'zstd', ...(options.level === undefined ? [] : ['-Xcompression-level', String(options.level)])];
  },
  ociMediaSuffix: '+zstd',
};

/** No compression: for formats that are compressed downstream, or for a quick look inside. */
export const none: Compressor = {
  name: 'none',
  synchronous: true,
  description: 'no compression',
  extension: '',
  defaultLevel: undefined,
  levels: undefined,
  open(fd, options = {}) {
    checkLevel(this, options.level);
    return fileSink(fd);
  },
  squashfsOptions(options = {}) {
    checkLevel(this, options.level);
    return ['-noI', '-noD', '-noF', '-noX'];
  },
  ociMediaSuffix: '',
};

/** The compressors, in the order `tsdsl pack --help` lists them. */
export const compressors: readonly Compressor[] = [gzip, xz, zstd, none];

/** The compressor called `name`; an unknown name is a TsdslError that suggests the closest. */
export function findCompressor(name: string): Compressor {
  const c = compressors.find((x) => x.name === name);
  if (!c) {
    const names = compressors.map((x) => x.name);
    throw new TsdslError(`unknown compressor \`${name}\`${didYouMean(name, names)} (compressors: ${names.join(', ')})`);
  }
  return c;
}

/** The compressor `options` ask for, or the format's default. */
export function packCompressor(format: Pick<PackFormat, 'defaultCompression'>, options: PackOptions = {}): Compressor {
  return findCompressor(options.compression ?? format.defaultCompression);
}

/** `{ level }` for the compressor, from `options.compressionLevel`. */
export function compressOptions(options: PackOptions): CompressOptions {
  return options.compressionLevel === undefined ? {} : { level: options.compressionLevel };
}

// ---------------------------------------------------------------------------------------------
// The destination file

// Temporary files and directories of packs in progress, removed if the process is interrupted.
const pending = new Set<string>();

function onSignal(signal: NodeJS.Signals): void {
  // A program that handles the signal itself (a script's own Ctrl-C handler) decides whether
  // its packs go on: their files stay, and what is unfinished when it exits is removed then.
  if (process.listenerCount(signal) > 1) return;
  cleanupPending();
  for (const s of INTERRUPTS) process.off(s, onSignal);
  // Die of the same signal, so the shell sees it; say so first, as an interrupted build does.
  process.stderr.write('tsdsl: error: interrupted; the partly written files were removed\n');
  process.kill(process.pid, signal);
}

function cleanupPending(): void {
  for (const p of pending) removeTree(p);
  pending.clear();
}

/**
 * Registers a temporary path to be removed if the process is interrupted (SIGINT, SIGTERM,
 * SIGHUP) or exits before `release` is called. Returns `release`.
 */
export function trackTemporary(path: string): () => void {
  if (pending.size === 0) {
    for (const s of INTERRUPTS) process.on(s, onSignal);
    process.on('exit', cleanupPending);
  }
  pending.add(path);
  return () => {
    pending.delete(path);
    if (pending.size === 0) {
      for (const s of INTERRUPTS) process.off(s, onSignal);
      process.off('exit', cleanupPending);
    }
  };
}

/**
 * Removes a file or a directory tree, also one holding read-only directories (store items are
 * read-only, and an unprivileged user cannot delete entries of a directory without write
 * permission). Never throws.
 */
export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
    return;
  } catch {
    // Fall through: make the directories writable and try again.
  }
  const makeWritable = (p: string): void => {
    try {
      const st = lstatSync(p);
      if (!st.isDirectory()) return;
      chmodSync(p, 0o700);
      for (const name of readdirSync(p)) makeWritable(join(p, name));
    } catch {
      // Already gone or not ours: rmSync below reports nothing either way.
    }
  };
  makeWritable(path);
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // Best effort: what is left is a temporary name that `ls -a` shows.
  }
}

/**
 * A temporary name next to `dest`, so that the final rename stays on one file system, named by
 * this process and where it runs (ownerWhere). The temporaries left in that directory by a
 * process that died (kill -9 leaves them, and a batch system's SIGKILL after SIGTERM), of any
 * pack, are removed first; only names of this form (and older ones), and not those of a process
 * of another PID namespace or host, which cannot be judged from here.
 */
export function temporaryName(dest: string, tag: TemporaryTag = 'tmp'): string {
  removeLeftoversOfDead(dirname(dest), TEMPORARY);
  return join(dirname(dest), `.${basename(dest)}.${tag}-${process.pid}-${ownerWhere()}-${randomBytes(4).toString('hex')}`);
}

const TEMPORARY = new RegExp(`^\\..+\\.(?:tmp|layers|stage)-(\\d+)-(?:${OWNED_AT}-)?[0-9a-f]{8}$`);

/** What a temporary name holds: the pack file, docker's layers, squashfs's stage. */
type TemporaryTag = 'tmp' | 'layers' | 'stage';

/**
 * A TsdslError unless a file can be created at `dest`: its directory exists and is writable, and
 * `dest` is not a directory. `option` is how the user names another place (`-o FILE`, `-r FILE`).
 */
export function checkDestination(dest: string, option = '-o FILE'): void {
  const dir = dirname(dest);
  let ok = false;
  try {
    ok = statSync(dir).isDirectory();
  } catch {
    // Reported below.
  }
  if (!ok) throw new TsdslError(`cannot write \`${dest}\`: the directory \`${dir}\` does not exist; create it first, or choose another place with ${option}`);
  try {
    accessSync(dir, fsConstants.W_OK);
  } catch {
    throw new TsdslError(`cannot write \`${dest}\`: the directory \`${dir}\` is not writable by you; choose another place with ${option}`);
  }
  try {
    // lstat: a link (a -r root to a store directory) is replaced, not followed.
    if (lstatSync(dest).isDirectory()) throw new TsdslError(`cannot write \`${dest}\`: it is a directory; give a file name`);
  } catch (e) {
    if (e instanceof TsdslError) throw e;
  }
}

/**
 * Runs `write(tmp)` to produce the destination under a temporary name in the same directory,
 * then renames it to `dest`. On failure or interrupt the temporary file is removed and nothing
 * appears at `dest`; an existing `dest` is replaced only on success.
 */
export async function writeAtomically<T>(dest: string, write: (tmp: string) => Promise<T>): Promise<T> {
  checkDestination(dest);
  const tmp = temporaryName(dest);
  const release = trackTemporary(tmp);
  try {
    const result = await write(tmp);
    renameSync(tmp, dest);
    return result;
  } catch (e) {
    removeTree(tmp);
    throw e;
  } finally {
    release();
  }
}

/**
 * Opens `path` for writing and returns a sink that compresses into it. `close` closes the file
 * after the compressor has finished; `abort` closes it too.
 */
export function openCompressedFile(path: string, compressor: Compressor, options: CompressOptions = {}): ByteSink {
  const fd = openSync(path, 'w', 0o644);
  let sink: ByteSink;
  try {
    sink = compressor.open(fd, options);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let closed = false;
  const closeFd = (): void => {
    if (closed) return;
    closed = true;
    closeSync(fd);
  };
  return {
    write: (chunk, release) => sink.write(chunk, release),
    async close() {
      try {
        await sink.close();
      } finally {
        closeFd();
      }
    },
    abort() {
      sink.abort();
      try {
        closeFd();
      } catch {
        // The descriptor is unusable anyway.
      }
    },
  };
}

/**
 * Produces `dest` atomically through `compressor`: `write` gets a sink that compresses into a
 * temporary file beside `dest`, renamed to `dest` once `write` and the compressor are done.
 */
export async function writeCompressedFile(
  dest: string,
  compressor: Compressor,
  options: CompressOptions,
  write: (sink: ByteSink) => Promise<void>,
): Promise<void> {
  await writeAtomically(dest, async (tmp) => {
    const sink = openCompressedFile(tmp, compressor, options);
    try {
      await write(sink);
      await sink.close();
    } catch (e) {
      sink.abort();
      throw e;
    }
  });
}
