/**
 * What files an uncompressed docker-archive's image holds, read from the tar headers alone
 * (positioned reads: no layer is extracted or read through), so that a command can be looked
 * up in the image before an image runtime starts it. Podman's init reports a missing command
 * only as "failed to exec pid1", exit 1; with this, `tsdsl run --engine=podman` says it as the
 * other engines do. A compressed archive is not read (that would mean decompressing it all).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { TsdslError, didYouMean } from '../errors.js';

/** One file of the image, after every layer is applied. */
export interface ImageFile {
  kind: 'file' | 'directory' | 'symlink' | 'other';
  /** A symlink's target. */
  target?: string;
}

const BLOCK = 512;
/** The largest long name, long link or pax header read (corrupt sizes are not allocated). */
const MAX_EXTENSION = 1 << 20;

interface Member {
  name: string;
  typeflag: string;
  linkname: string;
  /** Offset of the member's data in the file, and its size. */
  offset: number;
  size: number;
}

function field(h: Buffer, at: number, length: number): string {
  const end = h.indexOf(0, at);
  return h.toString('utf8', at, end === -1 || end > at + length ? at + length : end);
}

function number(h: Buffer, at: number, length: number): number {
  // Base-256 (high bit set) for sizes that do not fit in octal.
  if (h[at]! & 0x80) {
    let n = h[at]! & 0x7f;
    for (let i = 1; i < length; i++) n = n * 256 + h[at + i]!;
    return n;
  }
  const s = field(h, at, length).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** The pax records of an extended header (`path`, `linkpath`). */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const length = parseInt(data.toString('latin1', i, space), 10);
    if (!(length > 0)) break;
    const record = data.toString('utf8', space + 1, i + length - 1);
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    i += length;
  }
  return records;
}

/**
 * Reads an open file through a window of 16 KiB: headers lie close together in a layer of many
 * small files, and one read then serves several of them (a bigger window would read the
 * contents of the big files between headers for nothing).
 */
class WindowReader {
  readonly #fd: number;
  #window = Buffer.alloc(1 << 14);
  #from = 0;
  #length = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The `size` bytes at `offset` (fewer at the end of the file); valid until the next call. */
  read(offset: number, size: number): Buffer {
    if (offset < this.#from || offset + size > this.#from + this.#length) {
      if (size > this.#window.length) this.#window = Buffer.alloc(size);
      this.#from = offset;
      this.#length = readSync(this.#fd, this.#window, 0, this.#window.length, offset);
    }
    const at = offset - this.#from;
    return this.#window.subarray(at, Math.min(at + size, this.#length));
  }
}

/**
 * The members of the tar archive at [start, start + length) of the file, with GNU long names
 * and pax paths applied. Undefined when a header is not a tar header.
 */
function members(file: WindowReader, start: number, length: number): Member[] | undefined {
  const out: Member[] = [];
  let at = start;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Map<string, string> | undefined;
  while (at + BLOCK <= start + length) {
    const h = file.read(at, BLOCK);
    if (h.length < BLOCK) return undefined;
    // A header's checksum: the sum of its bytes with the checksum field as spaces. An
    // end-of-archive block is all zeros.
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum === 8 * 0x20) break;
    if (number(h, 148, 8) !== sum) return undefined;
    const typeflag = String.fromCharCode(h[156]!);
    // A pax `size` record replaces the header's (Go's archive/tar writes files of 8 GiB and more so).
    const paxSize = typeflag === 'x' || typeflag === 'g' ? undefined : pax?.get('size');
    const size = paxSize !== undefined && /^\d+$/.test(paxSize) ? Number(paxSize) : number(h, 124, 12);
    const data = at + BLOCK;
    at = data + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'L' || typeflag === 'K' || typeflag === 'x') {
      // A name or a few records; a bigger one is not a header this reader trusts.
      if (size > MAX_EXTENSION) return undefined;
      // Read after the header's fields are used: the read may move the window.
      const body = file.read(data, size);
      if (typeflag === 'L') longName = field(body, 0, size);
      else if (typeflag === 'K') longLink = field(body, 0, size);
      else pax = paxRecords(body);
      continue;
    }
    if (typeflag === 'g') continue;
    const prefix = h.toString('latin1', 257, 263) === 'ustar\0' ? field(h, 345, 155) : '';
    // A pax sparse file (GNU 0.1, 1.0) is named `GNUSparseFile.N/NAME` in the header, and its real name in a record.
    const name = pax?.get('GNU.sparse.name') ?? pax?.get('path') ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const linkname = pax?.get('linkpath') ?? longLink ?? field(h, 157, 100);
    out.push({ name, typeflag, linkname, offset: data, size });
    longName = longLink = pax = undefined;
  }
  return out;
}

/** `./a/b/` → `/a/b`. */
function absolute(name: string): string {
  return posix.normalize(`/${name}`).replace(/(.)\/$/, '$1');
}

/**
 * The files of the image in the uncompressed docker-archive `image`, its layers applied in
 * order (with OCI whiteouts); undefined when it cannot tell (compressed, unreadable, or not a
 * docker-archive).
 */
export function imageFiles(image: string): Map<string, ImageFile> | undefined {
  // Read once a run (the bind check and the command check both ask), while the file is unchanged.
  let key: string;
  try {
    const st = statSync(image);
    key = `${image}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  } catch {
    return undefined;
  }
  if (lastRead?.key === key) return lastRead.files;
  const files = readImageFiles(image);
  lastRead = { key, files };
  return files;
}

let lastRead: { key: string; files: Map<string, ImageFile> | undefined } | undefined;

function readImageFiles(image: string): Map<string, ImageFile> | undefined {
  let fd: number;
  try {
    fd = openSync(image, 'r');
  } catch {
    return undefined;
  }
  try {
    const file = new WindowReader(fd);
    const outer = members(file, 0, Number.MAX_SAFE_INTEGER);
    const manifest = outer?.find((m) => m.name === 'manifest.json' || m.name === './manifest.json');
    if (!outer || !manifest) return undefined;
    let layers: string[];
    try {
      layers = (JSON.parse(file.read(manifest.offset, manifest.size).toString('utf8')) as Array<{ Layers?: string[] }>)[0]?.Layers ?? [];
    } catch {
      return undefined;
    }
    const byName = new Map(outer.map((m) => [posix.normalize(m.name), m]));
    const files = new Map<string, ImageFile>();
    for (const layer of layers) {
      const m = byName.get(posix.normalize(layer));
      // A layer must be a regular member (docker save may link a repeated layer: not read here).
      if (!m || !(m.typeflag === '0' || m.typeflag === '\0')) return undefined;
      const entries = members(file, m.offset, m.size);
      if (!entries) return undefined; // a compressed layer
      applyLayer(files, entries);
    }
    return files;
  } finally {
    closeSync(fd);
  }
}

/**
 * Applies one layer's entries over the files of the layers below. Its whiteouts (`.wh.NAME`,
 * and `.wh..wh..opq` for a directory's whole contents) remove what the lower layers hold, in
 * one pass, whatever their order in the layer; entries under a lower layer's symlinked
 * directory land where the link leads, as the runtime would put them.
 */
function applyLayer(files: Map<string, ImageFile>, entries: readonly Member[]): void {
  const gone = new Set<string>();
  const opaque = new Set<string>();
  const added: Array<[string, Member]> = [];
  for (const e of entries) {
    const path = absolute(e.name);
    const base = posix.basename(path);
    const dir = resolvedPath(files, posix.dirname(path)) ?? posix.dirname(path);
    if (base === '.wh..wh..opq') opaque.add(dir);
    else if (base.startsWith('.wh.')) gone.add(posix.join(dir, base.slice(4)));
    else added.push([path === '/' ? '/' : posix.join(dir, base), e]);
  }
  if (gone.size || opaque.size) {
    for (const p of [...files.keys()]) {
      // Removed when it, or a directory above it, is whited out, or it lies in an opaque directory.
      for (let up = p, first = true; ; first = false) {
        if (gone.has(up) || (!first && opaque.has(up))) {
          files.delete(p);
          break;
        }
        if (up === '/') break;
        up = posix.dirname(up);
      }
    }
  }
  for (const [path, e] of added) {
    if (e.typeflag === '1') {
      // A hard link is the file it links to.
      const to = files.get(absolute(e.linkname));
      files.set(path, to ?? { kind: 'file' });
    } else if (e.typeflag === '2') files.set(path, { kind: 'symlink', target: e.linkname });
    else if (e.typeflag === '5') files.set(path, { kind: 'directory' });
    // Regular, contiguous and GNU sparse files.
    else if (e.typeflag === '0' || e.typeflag === '\0' || e.typeflag === '7' || e.typeflag === 'S') files.set(path, { kind: 'file' });
    else files.set(path, { kind: 'other' });
  }
}

const DIRECTORY: ImageFile = { kind: 'directory' };

/**
 * What `path` leads to in `files`, following symlinks (in any component, at most 40 of them);
 * undefined when nothing is there. A directory that only holds entries is one (archives may
 * leave out the directories above their files).
 */
export function lookupImageFile(files: ReadonlyMap<string, ImageFile>, path: string): ImageFile | undefined {
  const real = resolvedPath(files, path);
  if (real === undefined) return undefined;
  if (real === '/') return DIRECTORY;
  const e = files.get(real);
  if (e) return e;
  for (const p of files.keys()) if (p.startsWith(`${real}/`)) return DIRECTORY;
  return undefined;
}

/**
 * Checks that `argv0` can be found in the image's files (through `path` when it has no `/`),
 * as `checkCommand` checks an unpacked root. A command that is there, one that may come from a
 * directory bound into the container (`binds`: their targets, the working directory's among
 * them), or an image that cannot be read this way passes: the runtime then says what it says.
 */
export function checkCommandInImage(image: string, argv0: string, path: string, cwd: string, binds: readonly string[] = []): void {
  if (argv0 === '') throw new TsdslError('no command to run; give one after `--`');
  const files = imageFiles(image);
  if (!files) return;
  const bound = (p: string) => {
    const real = resolvedPath(files, p) ?? p;
    return binds.some((b) => b === '/' || [p, real].some((q) => q === b || q.startsWith(`${b}/`)));
  };
  const found = (p: string) => bound(p) || lookupImageFile(files, p)?.kind === 'file';
  if (argv0.includes('/')) {
    if (!found(posix.resolve(cwd, argv0))) {
      throw new TsdslError(`command \`${argv0}\` does not exist in the image ${image}; check the path or the pack's contents`, { exitCode: 127 });
    }
    return;
  }
  const dirs = path.split(':').map((d) => posix.resolve(cwd, d || '.'));
  if (dirs.some((d) => found(posix.join(d, argv0)))) return;
  const names = new Set<string>();
  for (const d of dirs) {
    // The entries directly in the directory the path leads to.
    const real = resolvedPath(files, d);
    if (real === undefined || lookupImageFile(files, real)?.kind !== 'directory') continue;
    const prefix = real === '/' ? '/' : `${real}/`;
    for (const p of files.keys()) if (p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) names.add(p.slice(prefix.length));
  }
  throw new TsdslError(
    `command \`${argv0}\` not found in PATH=${path} in the image ${image}${didYouMean(argv0, names)}; add the package that provides it to the pack, or give an absolute path`,
    // 127, as a shell's "command not found".
    { exitCode: 127 },
  );
}

/** `path` with every symlink in it followed (at most 40), where it lands in `files`; undefined for a loop. */
export function resolvedPath(files: ReadonlyMap<string, ImageFile>, path: string): string | undefined {
  let parts = absolute(path).split('/').filter(Boolean);
  let hops = 0;
  let cur = '';
  for (let i = 0; i < parts.length; i++) {
    const next = `${cur}/${parts[i]}`;
    const e = files.get(next);
    if (e?.kind === 'symlink') {
      if (++hops > 40) return undefined;
      const target = e.target!;
      parts = absolute(posix.join(target.startsWith('/') ? '/' : cur || '/', target, ...parts.slice(i + 1))).split('/').filter(Boolean);
      cur = '';
      i = -1;
      continue;
    }
    cur = next;
  }
  return cur || '/';
}
