/**
 * NAR (Nix ARchive): the canonical serialisation of a file-system tree that store items are
 * hashed by, and the format binary caches ship.
 *
 * The store uses `narHash` to name added sources (`source:` paths) and to record every
 * item's NAR hash and size; packs and binary caches use `writeNar`; `restoreNar` unpacks a
 * NAR (from a cache or an export) into a directory. Only what a NAR records matters here:
 * file contents, the owner-execute bit, symlink targets, and directory entries in byte
 * order — never owners, other permission bits or times. Trees stream: memory use is bounded
 * by the chunk sizes below, whatever the size of the tree or its files (only `narOfFile`,
 * meant for small in-memory items, builds a whole NAR).
 *
 * Reference: /work/shared/reference/nix-formats.md §1.8.
 */
import { createHash } from 'node:crypto';
import type { Hash as CryptoHash } from 'node:crypto';
import { closeSync, constants as fsConstants, createReadStream, lstatSync, openSync, promises as fsp, readSync, readdirSync, readlinkSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { sha256 } from '../derivation/hash.js';
import { TsdslError } from '../errors.js';

/** Receives NAR bytes in order; a returned promise is awaited before more bytes come (backpressure). */
export type NarSink = (chunk: Buffer) => void | Promise<void>;

const NAR_MAGIC = 'nix-archive-1';
// Small tokens are coalesced into blocks of this size before they reach the sink.
const BLOCK_SIZE = 64 * 1024;
// File contents are read in pieces of this size.
const READ_SIZE = 1024 * 1024;

/** Coalesces the many small NAR tokens into large chunks for the sink. */
class NarWriter {
  private block = Buffer.allocUnsafe(BLOCK_SIZE);
  private used = 0;
  size = 0;

  constructor(private readonly sink: NarSink) {}

  /** Appends bytes; returns a promise only when the sink had to be called. */
  write(bytes: Uint8Array): void | Promise<void> {
    this.size += bytes.length;
    if (this.used + bytes.length <= BLOCK_SIZE) {
      this.block.set(bytes, this.used);
      this.used += bytes.length;
      return;
    }
    return this.flushThen(bytes);
  }

  private async flushThen(bytes: Uint8Array): Promise<void> {
    await this.flush();
    if (bytes.length >= BLOCK_SIZE) {
      await this.sink(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } else {
      this.block.set(bytes, 0);
      this.used = bytes.length;
    }
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const chunk = this.block.subarray(0, this.used);
    // The sink may keep the chunk, so the next block is a fresh buffer.
    this.block = Buffer.allocUnsafe(BLOCK_SIZE);
    this.used = 0;
    await this.sink(chunk);
  }

  u64(n: number): void | Promise<void> {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return this.write(b);
  }

  async str(s: string | Uint8Array): Promise<void> {
    const bytes = typeof s === 'string' ? Buffer.from(s) : s;
    await this.u64(bytes.length);
    await this.write(bytes);
    await this.pad(bytes.length);
  }

  pad(length: number): void | Promise<void> {
    const rem = length % 8;
    if (rem !== 0) return this.write(ZEROS.subarray(0, 8 - rem));
  }
}

const ZEROS = Buffer.alloc(8);

function pathToString(p: Buffer): string {
  return p.toString('utf8');
}

// Files up to this size are read with one synchronous call: for trees of many small files,
// a thread-pool round trip per file costs far more than the read itself.
const SMALL_FILE = 256 * 1024;

/** Yields to the event loop now and then, so hashing a huge tree does not freeze timers and I/O. */
class Yielder {
  private last = performance.now();
  maybe(): void | Promise<void> {
    const now = performance.now();
    if (now - this.last < 20) return;
    this.last = now;
    return new Promise((resolve) => setImmediate(resolve));
  }
}

async function dumpFile(w: NarWriter, path: Buffer, size: number, executable: boolean): Promise<void> {
  await w.str('regular');
  if (executable) {
    await w.str('executable');
    await w.str('');
  }
  await w.str('contents');
  await w.u64(size);
  if (size <= SMALL_FILE) {
    const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    let data: Buffer;
    try {
      data = Buffer.allocUnsafe(size + 1);
      let got = 0;
      for (;;) {
        const n = readSync(fd, data, got, data.length - got, null);
        if (n === 0) break;
        got += n;
        if (got === data.length) break;
      }
      if (got !== size) changedSize(path);
    } finally {
      closeSync(fd);
    }
    await w.write(data.subarray(0, size));
  } else {
    let handle: FileHandle | undefined;
    try {
      handle = await fsp.open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      let remaining = size;
      const buffer = Buffer.allocUnsafe(READ_SIZE);
      while (remaining > 0) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, remaining), null);
        if (bytesRead === 0) break;
        // Copy: the writer may hold the bytes while `buffer` is reused.
        await w.write(Buffer.from(buffer.subarray(0, bytesRead)));
        remaining -= bytesRead;
      }
      const { bytesRead: extra } = await handle.read(buffer, 0, 1, null);
      if (remaining !== 0 || extra !== 0) changedSize(path);
    } finally {
      await handle?.close();
    }
  }
  await w.pad(size);
}

function changedSize(path: Buffer): never {
  throw new TsdslError(`file \`${pathToString(path)}\` changed size while it was being archived; make sure nothing writes to it and try again`);
}

async function dumpNode(w: NarWriter, path: Buffer, yielder: Yielder, exclude?: (name: Buffer) => boolean): Promise<void> {
  await yielder.maybe();
  const st = lstatSync(path);
  await w.str('(');
  await w.str('type');
  if (st.isFile()) {
    await dumpFile(w, path, st.size, (st.mode & 0o100) !== 0);
  } else if (st.isSymbolicLink()) {
    await w.str('symlink');
    await w.str('target');
    await w.str(readlinkSync(path, { encoding: 'buffer' }));
  } else if (st.isDirectory()) {
    await w.str('directory');
    const names = readdirSync(path, { encoding: 'buffer' });
    // NAR orders entries by raw bytes, which is what Buffer.compare does.
    names.sort(Buffer.compare);
    for (const name of names) {
      if (exclude?.(name)) continue;
      await w.str('entry');
      await w.str('(');
      await w.str('name');
      await w.str(name);
      await w.str('node');
      await dumpNode(w, Buffer.concat([path, SLASH, name]), yielder, exclude);
      await w.str(')');
    }
  } else {
    throw new TsdslError(`cannot archive \`${pathToString(path)}\`: it is a ${fileKind(st.mode)}; only regular files, symlinks and directories can go in the store`);
  }
  await w.str(')');
}

const SLASH = Buffer.from('/');

function fileKind(mode: number): string {
  switch (mode & fsConstants.S_IFMT) {
    case fsConstants.S_IFSOCK:
      return 'socket';
    case fsConstants.S_IFIFO:
      return 'FIFO';
    case fsConstants.S_IFCHR:
      return 'character device';
    case fsConstants.S_IFBLK:
      return 'block device';
    default:
      return 'special file';
  }
}

/**
 * Serialises the tree at `path` (a file, symlink or directory, not followed if a symlink)
 * as a NAR, streaming it to `sink`. Resolves to the NAR's size in bytes.
 */
export async function writeNar(path: string, sink: NarSink, options: NarOptions = {}): Promise<number> {
  const w = new NarWriter(sink);
  await w.str(NAR_MAGIC);
  await dumpNode(w, Buffer.from(path), new Yielder(), options.exclude);
  await w.flush();
  return w.size;
}

/** Options of `writeNar`. */
export interface NarOptions {
  /** Directory entries (at any depth) left out of the archive, by name: `.git` for a checkout's hash. */
  exclude?: (name: Buffer) => boolean;
}

/** SHA-256 and size of the NAR of `path`, computed while streaming (what Nix records as NarHash/NarSize). */
export async function narHash(path: string, options: { scanner?: ReferenceScanner } & NarOptions = {}): Promise<{ hash: Buffer; size: number }> {
  const h = createHash('sha256');
  const scanner = options.scanner;
  const size = await writeNar(
    path,
    (chunk) => {
      h.update(chunk);
      scanner?.feed(chunk);
    },
    options,
  );
  return { hash: h.digest(), size };
}

/** SHA-256 of a file's own bytes (Nix's flat hash, what a `url()` source's sha256 is), read as a stream. */
export async function fileSha256(path: string): Promise<Buffer> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest();
}

/** Hashes a NAR stream incrementally, with any algorithm (e.g. `sha1` for `r:sha1` fixed outputs). */
export async function narHashWith(path: string, algo: string): Promise<{ hash: Buffer; size: number }> {
  const h: CryptoHash = createHash(algo);
  const size = await writeNar(path, (chunk) => void h.update(chunk));
  return { hash: h.digest(), size };
}

function strBytes(s: string): Buffer {
  const bytes = Buffer.from(s);
  const out = Buffer.alloc(8 + Math.ceil(bytes.length / 8) * 8);
  out.writeUInt32LE(bytes.length, 0);
  bytes.copy(out, 8);
  return out;
}

// Everything before a regular file's length field, and everything after its padded bytes.
const FILE_PREFIX = [false, true].map((executable) =>
  Buffer.concat([NAR_MAGIC, '(', 'type', 'regular', ...(executable ? ['executable', ''] : []), 'contents'].map(strBytes)),
);
const FILE_SUFFIX = strBytes(')');

/**
 * The complete NAR of a single regular file with the given contents, for items that exist
 * only in memory (text files and `.drv` files) before they are written.
 */
export function narOfFile(contents: string | Uint8Array, executable = false): Buffer {
  const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents;
  const prefix = FILE_PREFIX[executable ? 1 : 0]!;
  const padded = Math.ceil(bytes.length / 8) * 8;
  // One allocation: this runs once per .drv when lowering whole graphs.
  const out = Buffer.alloc(prefix.length + 8 + padded + FILE_SUFFIX.length);
  prefix.copy(out, 0);
  out.writeBigUInt64LE(BigInt(bytes.length), prefix.length);
  out.set(bytes, prefix.length + 8);
  FILE_SUFFIX.copy(out, prefix.length + 8 + padded);
  return out;
}

/** NAR hash and size of a single regular file with the given contents, without touching disk. */
export function narHashOfBytes(contents: string | Uint8Array, executable = false): { hash: Buffer; size: number } {
  if (typeof contents === 'string') contents = Buffer.from(contents);
  // The NAR is laid out in a reused buffer: this runs once per .drv when writing whole graphs.
  const prefix = FILE_PREFIX[executable ? 1 : 0]!;
  const padded = Math.ceil(contents.length / 8) * 8;
  const size = prefix.length + 8 + padded + FILE_SUFFIX.length;
  if (size > narScratch.length) narScratch = Buffer.allocUnsafe(Math.max(size, 2 * narScratch.length));
  const out = narScratch;
  prefix.copy(out, 0);
  let at = prefix.length;
  out.writeUInt32LE(contents.length >>> 0, at);
  out.writeUInt32LE(Math.floor(contents.length / 2 ** 32), at + 4);
  out.set(contents, (at += 8));
  out.fill(0, at + contents.length, at + padded);
  FILE_SUFFIX.copy(out, at + padded);
  return { hash: sha256(out.subarray(0, size)), size };
}

let narScratch = Buffer.allocUnsafe(1 << 16);

// ---------------------------------------------------------------------------------------
// Reference scanning

const NIX32_CHARS = new Uint8Array(256);
for (const c of '0123456789abcdfghijklmnpqrsvwxyz') NIX32_CHARS[c.charCodeAt(0)] = 1;
const HASH_LEN = 32;

/**
 * Finds which of a set of store-path hash parts (32 nix32 characters) occur in a byte
 * stream, as Nix's reference scanner does; feed it the NAR of a build output to learn
 * its references. Matches that straddle chunk boundaries are found.
 */
export class ReferenceScanner {
  private readonly wanted: Set<string>;
  private readonly seen = new Set<string>();
  private tail = Buffer.alloc(0);

  constructor(hashes: Iterable<string>) {
    this.wanted = new Set(hashes);
  }

  /** Scans the next chunk of the stream. */
  feed(chunk: Uint8Array): void {
    if (this.wanted.size === this.seen.size) return;
    // Keep the last 31 bytes so a hash split across chunks is still seen whole.
    const data = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.scan(data);
    const keep = Math.min(HASH_LEN - 1, data.length);
    this.tail = Buffer.from(data.subarray(data.length - keep));
  }

  private scan(data: Buffer): void {
    let i = 0;
    const end = data.length - HASH_LEN;
    while (i <= end) {
      // Check the window from its last byte backwards; a non-nix32 byte at offset j lets
      // the window skip past it entirely.
      let j = HASH_LEN - 1;
      while (j >= 0 && NIX32_CHARS[data[i + j]!] === 1) j--;
      if (j >= 0) {
        i += j + 1;
        continue;
      }
      const candidate = data.toString('latin1', i, i + HASH_LEN);
      if (this.wanted.has(candidate)) this.seen.add(candidate);
      i++;
    }
  }

  /** The hash parts seen so far. */
  found(): Set<string> {
    return new Set(this.seen);
  }
}

// ---------------------------------------------------------------------------------------
// Reading NARs

/** A byte source for `restoreNar`: a whole NAR in memory or a stream of chunks. */
export type NarSource = Uint8Array | AsyncIterable<Uint8Array>;

const MAX_TOKEN = 4096;

class NarReader {
  private chunks: AsyncIterator<Uint8Array> | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  /** Bytes consumed so far, for error positions. */
  pos = 0;

  constructor(source: NarSource) {
    if (source instanceof Uint8Array) this.buf = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
    else this.chunks = source[Symbol.asyncIterator]();
  }

  fail(message: string): never {
    throw new TsdslError(`invalid NAR at byte ${this.pos}: ${message}; the archive is damaged or not a NAR`);
  }

  private async fill(): Promise<boolean> {
    if (!this.chunks) return false;
    for (;;) {
      const next = await this.chunks.next();
      if (next.done) return false;
      if (next.value.length === 0) continue;
      const rest = this.buf.subarray(this.off);
      this.buf = rest.length > 0 ? Buffer.concat([rest, next.value]) : Buffer.from(next.value);
      this.off = 0;
      return true;
    }
  }

  /** Returns between 1 and `max` bytes (a view that is valid until the next read). */
  async some(max: number): Promise<Buffer> {
    while (this.off >= this.buf.length) {
      if (!(await this.fill())) this.fail('unexpected end of archive');
    }
    const n = Math.min(max, this.buf.length - this.off);
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    this.pos += n;
    return out;
  }

  async exact(n: number): Promise<Buffer> {
    while (this.buf.length - this.off < n) {
      if (!(await this.fill())) this.fail('unexpected end of archive');
    }
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    this.pos += n;
    return out;
  }

  async u64(): Promise<number> {
    const b = await this.exact(8);
    const v = b.readBigUInt64LE();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('length field is too large');
    return Number(v);
  }

  async padding(len: number): Promise<void> {
    const rem = len % 8;
    if (rem === 0) return;
    const pad = await this.exact(8 - rem);
    for (const byte of pad) if (byte !== 0) this.fail('non-zero padding');
  }

  async bytes(max = MAX_TOKEN): Promise<Buffer> {
    const len = await this.u64();
    if (len > max) this.fail(`string of ${len} bytes where at most ${max} are allowed`);
    const data = Buffer.from(await this.exact(len));
    await this.padding(len);
    return data;
  }

  async token(): Promise<string> {
    return (await this.bytes()).toString('latin1');
  }

  async expect(token: string): Promise<void> {
    const at = this.pos;
    const got = await this.token();
    if (got !== token) {
      this.pos = at;
      this.fail(`expected \`${token}\`, found \`${got.slice(0, 40)}\``);
    }
  }

  async atEnd(): Promise<boolean> {
    if (this.off < this.buf.length) return false;
    return !(await this.fill());
  }
}

function checkEntryName(r: NarReader, name: Buffer, previous: Buffer | undefined): void {
  if (name.length === 0) r.fail('empty entry name');
  if (name.includes(0x2f)) r.fail(`entry name \`${name.toString()}\` contains \`/\``);
  if (name.includes(0)) r.fail('entry name contains a NUL byte');
  if ((name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e)) {
    r.fail(`entry name \`${name.toString()}\` is not allowed`);
  }
  if (previous && Buffer.compare(previous, name) >= 0) {
    r.fail(`entry \`${name.toString()}\` is out of order or duplicated (entries must be sorted by bytes)`);
  }
}

async function restoreNode(r: NarReader, dest: Buffer): Promise<void> {
  await r.expect('(');
  await r.expect('type');
  const type = await r.token();
  if (type === 'regular') {
    let tag = await r.token();
    let executable = false;
    if (tag === 'executable') {
      executable = true;
      await r.expect('');
      tag = await r.token();
    }
    if (tag !== 'contents') r.fail(`expected \`contents\`, found \`${tag.slice(0, 40)}\``);
    const size = await r.u64();
    const handle = await fsp.open(dest, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, executable ? 0o755 : 0o644);
    try {
      let remaining = size;
      while (remaining > 0) {
        const piece = await r.some(Math.min(remaining, READ_SIZE));
        await handle.write(piece);
        remaining -= piece.length;
      }
    } finally {
      await handle.close();
    }
    await r.padding(size);
    await r.expect(')');
  } else if (type === 'symlink') {
    await r.expect('target');
    const target = await r.bytes();
    if (target.length === 0 || target.includes(0)) r.fail('symlink target is empty or contains a NUL byte');
    await fsp.symlink(target, dest);
    await r.expect(')');
  } else if (type === 'directory') {
    await fsp.mkdir(dest, { mode: 0o755 });
    let previous: Buffer | undefined;
    for (;;) {
      const tag = await r.token();
      if (tag === ')') break;
      if (tag !== 'entry') r.fail(`expected \`entry\` or \`)\`, found \`${tag.slice(0, 40)}\``);
      await r.expect('(');
      await r.expect('name');
      const name = await r.bytes(255);
      checkEntryName(r, name, previous);
      previous = name;
      await r.expect('node');
      await restoreNode(r, Buffer.concat([dest, SLASH, name]));
      await r.expect(')');
    }
  } else {
    r.fail(`unknown node type \`${type.slice(0, 40)}\``);
  }
}

/**
 * Unpacks a NAR into `destPath`, which must not exist. The archive is checked as strictly
 * as Nix checks it (padding, tag order, sorted unique valid entry names); on error the
 * partial output is left for the caller to delete. Files get modes 0644/0755 and
 * directories 0755; the store normalises them when it registers the tree.
 */
export async function restoreNar(source: NarSource, destPath: string): Promise<void> {
  const r = new NarReader(source);
  await r.expect(NAR_MAGIC);
  await restoreNode(r, Buffer.from(destPath));
  if (!(await r.atEnd())) r.fail('trailing data after the archive');
}
