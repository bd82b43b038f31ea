/**
 * The file-system image of a pack and its tar serialisation — the first step of every pack
 * format. `checkPackInput` validates a closure (store items, profile, `-S` links, entry point)
 * and reports every problem at once; `PackTree` lays out what goes into the image (store items
 * at their logical paths, parent directories, `-S` links made relative, format-specific
 * extras such as `/tmp`); `planTar` walks that tree into an ordered list of tar members; and
 * `TarWriter` streams those members as a GNU-format tar without ever holding a whole file.
 *
 * The output is bit-identical across runs and machines: members in GNU tar's `--sort=name`
 * order (each directory's entries by their bytes, depth first), mtime 1, uid and gid 0 named
 * `root`, permissions kept minus group and other write, hard links stored as separate files.
 * For the same tree it is byte for byte what
 * `tar --format=gnu --sort=name --owner=root:0 --group=root:0 --mtime=@1 --mode=go-w --hard-dereference`
 * writes (the tests check this), so anything that reads GNU tar reads it.
 */
import { closeSync, constants as fsConstants, promises as fsp, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { isAscii } from 'node:buffer';
import { posix } from 'node:path';
import { TsdslError } from '../errors.js';
import { compareStrings } from '../compare.js';
import { isAncestor } from '../store/tree.js';
import type { PackInput } from './formats.js';

// ---------------------------------------------------------------------------------------------
// The closure: validation and logical path resolution

/** A store item of the closure: its logical store path and where its files are here. */
export interface PackItem {
  readonly path: string;
  readonly physical: string;
}

/** What a logical path resolves to inside the closure. */
export interface Resolved {
  /** The logical path after following symbolic links. */
  readonly logical: string;
  /** Its file on this machine, or undefined for the store directory and its parents. */
  readonly physical: string | undefined;
  /** lstat of `physical`; undefined for the store directory and its parents. */
  readonly stats: Stats | undefined;
}

/**
 * A validated closure. Logical paths (`/tsdsl/store/…-hello/bin/hello`) are resolved through
 * the items' physical locations, following symbolic links — also the absolute ones a profile
 * is made of, which point at logical paths that do not exist on this machine.
 */
export class PackClosure {
  /** Items sorted by path. */
  readonly items: readonly PackItem[];
  readonly profile: PackItem;
  private readonly byPath: ReadonlyMap<string, PackItem>;

  constructor(
    readonly storeDir: string,
    items: readonly PackItem[],
    profilePath: string,
  ) {
    this.items = [...items].sort((a, b) => compareStrings(a.path, b.path));
    this.byPath = new Map(this.items.map((i) => [i.path, i]));
    const profile = this.byPath.get(profilePath);
    if (!profile) throw new TsdslError(`the profile \`${profilePath}\` is not one of the closure's items`);
    this.profile = profile;
  }

  /** The item at `path`, if it is in the closure. */
  item(path: string): PackItem | undefined {
    return this.byPath.get(path);
  }

  /**
   * Where the logical path `logical` (absolute, already normalised, no symlinks followed) is on
   * this machine: a physical path, `null` for the store directory and its parents (they exist
   * only in the pack), or undefined when it is outside the closure.
   */
  physicalOf(logical: string): string | null | undefined {
    if (logical === this.storeDir || isAncestor(logical, this.storeDir)) return null;
    if (!isAncestor(this.storeDir, logical)) return undefined;
    const rest = logical.slice(this.storeDir.length + 1);
    const slash = rest.indexOf('/');
    const item = this.byPath.get(`${this.storeDir}/${slash < 0 ? rest : rest.slice(0, slash)}`);
    if (!item) return undefined;
    return slash < 0 ? item.physical : item.physical + rest.slice(slash);
  }

  /**
   * Resolves `logical` inside the closure, following symbolic links (the last component's only
   * when `followLast`). Undefined when it is missing, leaves the closure or loops.
   */
  resolve(logical: string, followLast = true): Resolved | undefined {
    const queue = logical.split('/').filter((c) => c !== '' && c !== '.');
    let cur = '/';
    let hops = 0;
    let stats: Stats | undefined;
    let physical: string | undefined;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '..') {
        cur = posix.dirname(cur);
        stats = undefined;
        physical = undefined;
        continue;
      }
      const next = cur === '/' ? `/${c}` : `${cur}/${c}`;
      const phys = this.physicalOf(next);
      if (phys === undefined) return undefined;
      if (phys === null) {
        cur = next;
        stats = undefined;
        physical = undefined;
        continue;
      }
      let st: Stats;
      try {
        st = lstatSync(phys);
      } catch {
        return undefined;
      }
      if (st.isSymbolicLink() && (queue.length > 0 || followLast)) {
        if (++hops > 40) return undefined;
        const target = readlinkSync(phys, 'utf8');
        queue.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
        if (target.startsWith('/')) cur = '/';
        continue;
      }
      if (queue.length > 0 && !st.isDirectory()) return undefined;
      cur = next;
      stats = st;
      physical = phys;
    }
    return { logical: cur, physical, stats };
  }
}

/** A normalised relative path inside a profile ('.' for the profile itself), or undefined if it escapes. */
function profileRelative(target: string): string | undefined {
  if (target.startsWith('/')) return undefined;
  const n = posix.normalize(target === '' ? '.' : target).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) return undefined;
  return n === '' ? '.' : n;
}

/** What `checkPackInput` returns: the closure plus the normalised links and entry point. */
export interface CheckedInput {
  readonly closure: PackClosure;
  /** `-S` links: absolute link path → logical absolute target inside the profile. */
  readonly symlinks: ReadonlyArray<{ readonly link: string; readonly target: string }>;
  /** The entry point as an absolute logical path (through the profile), if any. */
  readonly entryPoint: string | undefined;
}

/**
 * Validates a pack's input and returns the closure view. Every problem is collected and
 * reported in one TsdslError: item paths outside the store, missing files, a profile that is
 * not an item, `-S` links that are not absolute, clash with the store or each other, or whose
 * target is absolute or missing from the profile, and an entry point missing from the profile.
 */
export function checkPackInput(input: PackInput): CheckedInput {
  const problems: string[] = [];
  const storeDir = input.storeDir;
  if (!storeDir.startsWith('/') || posix.normalize(storeDir) !== storeDir || storeDir === '/' || storeDir.endsWith('/')) {
    problems.push(`the store directory \`${storeDir}\` must be an absolute, normalised path other than /`);
  }
  if (!/^[^/\0]+$/.test(input.name) || input.name === '.' || input.name === '..') {
    problems.push(`the pack name \`${input.name}\` must be a non-empty file name without /`);
  }
  if (input.items.length === 0) problems.push('the closure is empty: there is nothing to pack');
  const seen = new Set<string>();
  for (const item of input.items) {
    if (posix.dirname(item.path) !== storeDir || !/^[^/\0]+$/.test(posix.basename(item.path)) || item.path.endsWith('/.') || item.path.endsWith('/..')) {
      problems.push(`the item \`${item.path}\` is not directly in the store directory \`${storeDir}\``);
    }
    if (seen.has(item.path)) problems.push(`the item \`${item.path}\` is listed twice`);
    seen.add(item.path);
    try {
      lstatSync(item.physical);
    } catch {
      problems.push(`the files of \`${item.path}\` are missing: \`${item.physical}\` does not exist`);
    }
  }
  if (!seen.has(input.profile)) problems.push(`the profile \`${input.profile}\` is not one of the closure's items`);
  for (const key of Object.keys(input.env)) {
    if (key === '' || key.includes('=') || key.includes('\0')) problems.push(`the environment variable name \`${key}\` is invalid`);
  }
  if (problems.length > 0) throw packInputError(problems);

  const closure = new PackClosure(storeDir, input.items, input.profile);
  const profile = closure.profile.path;

  const links: Array<{ link: string; target: string }> = [];
  const specs = checkLinkSpecs(input.symlinks, storeDir);
  problems.push(...specs.problems);
  for (const { spec, link, rel } of specs.links) {
    const logicalTarget = rel === '.' ? profile : `${profile}/${rel}`;
    if (!closure.resolve(logicalTarget, false)) {
      problems.push(`\`${spec}\`: the profile has no \`${rel}\` (\`${logicalTarget}\`)`);
      continue;
    }
    links.push({ link, target: logicalTarget });
  }

  let entryPoint: string | undefined;
  if (input.entryPoint !== undefined) {
    const rel = profileRelative(input.entryPoint);
    if (rel === undefined || rel === '.') {
      problems.push(`the entry point \`${input.entryPoint}\` must be a path relative to the profile, such as \`bin/hello\``);
    } else {
      entryPoint = `${profile}/${rel}`;
      const r = closure.resolve(entryPoint);
      if (!r?.stats) problems.push(`the entry point \`${rel}\` is not in the profile or points outside the closure (\`${entryPoint}\`)`);
      else if (!r.stats.isFile()) problems.push(`the entry point \`${rel}\` is not a file (\`${r.logical}\`)`);
    }
  }
  if (problems.length > 0) throw packInputError(problems);
  links.sort((a, b) => compareStrings(a.link, b.link));
  return { closure, symlinks: links, entryPoint };
}

/**
 * The checks of `-S` links that need no build: each link an absolute path that is not `/`, not
 * in the store directory and given once, no link inside another, each target relative to the
 * profile. Returns the problems, and the links that passed (normalised, with their target
 * relative to the profile), which the format then resolves in the closure.
 */
export function checkLinkSpecs(
  symlinks: ReadonlyArray<{ link: string; target: string }>,
  storeDir: string,
): { problems: string[]; links: Array<{ spec: string; link: string; rel: string }> } {
  const problems: string[] = [];
  const links: Array<{ spec: string; link: string; rel: string }> = [];
  const linkPaths = new Set<string>();
  for (const { link, target } of symlinks) {
    const spec = `-S ${link}=${target}`;
    const normal = posix.normalize(link).replace(/(.)\/+$/, '$1');
    if (!link.startsWith('/')) {
      problems.push(`\`${spec}\`: the link must be an absolute path in the pack, such as /bin`);
      continue;
    }
    if (normal === '/' || normal.split('/').includes('..')) {
      problems.push(`\`${spec}\`: cannot create a link at \`${link}\``);
      continue;
    }
    if (normal === storeDir || isAncestor(normal, storeDir) || isAncestor(storeDir, normal)) {
      problems.push(`\`${spec}\`: the link would clash with the store directory \`${storeDir}\``);
      continue;
    }
    if (linkPaths.has(normal)) {
      problems.push(`\`${spec}\`: \`${normal}\` is given twice`);
      continue;
    }
    const rel = profileRelative(target);
    if (rel === undefined) {
      problems.push(
        `\`${spec}\`: the target must be a path relative to the profile, such as \`bin\`${target.startsWith('/') ? `, not an absolute path (use \`${target.replace(/^\/+/, '')}\`)` : ''}`,
      );
      continue;
    }
    linkPaths.add(normal);
    links.push({ spec, link: normal, rel });
  }
  for (const a of linkPaths) {
    for (const b of linkPaths) {
      if (isAncestor(a, b)) problems.push(`\`-S\` links \`${a}\` and \`${b}\` overlap: \`${b}\` would be inside the link \`${a}\``);
    }
  }
  return { problems, links };
}

/** One error listing every problem of a pack's input. */
export function packInputError(problems: readonly string[]): TsdslError {
  if (problems.length === 1) return new TsdslError(`cannot pack: ${problems[0]}`);
  return new TsdslError(`cannot pack:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// The tree of a pack

/** A node of the pack's file-system tree. `copy` nodes are store items, walked on disk when written. */
export type TreeNode =
  | { readonly kind: 'directory'; readonly mode: number; readonly children: Map<string, TreeNode>; readonly origin: string }
  | { readonly kind: 'symlink'; readonly target: string; readonly origin: string }
  | { readonly kind: 'file'; readonly mode: number; readonly content: Uint8Array; readonly origin: string }
  | { readonly kind: 'copy'; readonly physical: string; readonly origin: string };

/** A directory of a `PackTree`. */
export type DirectoryNode = Extract<TreeNode, { kind: 'directory' }>;

/**
 * The layout of a pack: a tree of synthetic directories, links and small files, with store
 * items grafted at their logical paths. Paths are absolute (`/tsdsl/store/…`); adding a node
 * where another one already is, or under a non-directory, is a TsdslError naming both.
 */
export class PackTree {
  readonly root: DirectoryNode = { kind: 'directory', mode: 0o755, children: new Map(), origin: 'the root directory' };

  /** Ensures the directory `path` and its parents exist; returns it. */
  directory(path: string, mode = 0o755, origin = `the directory ${path}`): DirectoryNode {
    let dir = this.root;
    let at = '';
    for (const c of components(path)) {
      at += `/${c}`;
      const child = dir.children.get(c);
      if (child === undefined) {
        const made: DirectoryNode = { kind: 'directory', mode: at === path ? mode : 0o755, children: new Map(), origin };
        dir.children.set(c, made);
        dir = made;
      } else if (child.kind === 'directory') {
        dir = child;
      } else {
        throw new TsdslError(`${origin} needs \`${at}\` to be a directory, but it is ${child.origin}`);
      }
    }
    return dir;
  }

  /** Adds the symbolic link `path` → `target` (stored as given). */
  symlink(path: string, target: string, origin = `the link ${path}`): void {
    this.put(path, { kind: 'symlink', target, origin });
  }

  /** Adds a small file with the given content. */
  file(path: string, content: Uint8Array | string, mode = 0o644, origin = `the file ${path}`): void {
    this.put(path, { kind: 'file', mode, content: typeof content === 'string' ? Buffer.from(content) : content, origin });
  }

  /** Grafts the file, directory or symlink at `physical` (a store item) at `path`. */
  copy(path: string, physical: string, origin = `the store item ${path}`): void {
    this.put(path, { kind: 'copy', physical, origin });
  }

  /** The node at `path`, if any (without looking inside `copy` nodes). */
  get(path: string): TreeNode | undefined {
    let node: TreeNode = this.root;
    for (const c of components(path)) {
      if (node.kind !== 'directory') return undefined;
      const next: TreeNode | undefined = node.children.get(c);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  private put(path: string, node: TreeNode): void {
    const parts = components(path);
    const name = parts.pop();
    if (name === undefined) throw new TsdslError(`${node.origin}: cannot replace the root directory`);
    const dir = this.directory(`/${parts.join('/')}`, 0o755, node.origin);
    const existing = dir.children.get(name);
    if (existing) throw new TsdslError(`${node.origin} clashes with ${existing.origin} at \`${path}\``);
    dir.children.set(name, node);
  }
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

/**
 * The standard content of a pack: the store directory and its parents, the closure's items,
 * and the `-S` links, each a relative link from its own directory to its target in the
 * profile (so the pack works unpacked anywhere, chrooted or not). `items` restricts the items
 * (docker layers hold a subset); `links: false` leaves the links out.
 */
export function closureTree(checked: CheckedInput, options: { items?: readonly PackItem[]; links?: boolean } = {}): PackTree {
  const tree = new PackTree();
  const { closure } = checked;
  tree.directory(closure.storeDir, 0o755, 'the store directory');
  for (const item of options.items ?? closure.items) tree.copy(item.path, item.physical);
  if (options.links !== false) addLinks(tree, checked);
  return tree;
}

/** Adds the `-S` links to `tree`, relative to each link's directory. */
export function addLinks(tree: PackTree, checked: CheckedInput): void {
  for (const { link, target } of checked.symlinks) {
    tree.symlink(link, posix.relative(posix.dirname(link), target), `the link \`-S ${link}\``);
  }
}

// ---------------------------------------------------------------------------------------------
// Planning: the tree as an ordered list of members

/** A member of a tar archive. */
export interface TarEntry {
  /** Name relative to the archive root, without a leading `./` or a trailing `/`. */
  readonly name: Buffer;
  readonly type: 'file' | 'directory' | 'symlink';
  /** Permission bits as stored. */
  readonly mode: number;
  /** Content size: 0 except for files. */
  readonly size: number;
  /** Symlink target. */
  readonly linkname?: Buffer;
  /** A file's content: read from this physical path when the member is written… */
  readonly path?: Buffer | string;
  /** …or these bytes. */
  readonly content?: Uint8Array;
}

// Permissions kept in a pack: no group or other write (a store is read-only to all but its
// owner anyway), and no setuid, setgid or sticky bits from the store (store items never have
// them, and a pack unpacked by root must not create setuid files).
const PERMISSIONS = 0o755;
const SLASH = Buffer.from('/');

/**
 * Walks `tree` into tar members in GNU tar's `--sort=name` order: depth first, each
 * directory's entries sorted by their bytes. The root itself is not a member, so unpacking
 * with `tar -C DIR` never changes DIR's own permissions. Store items are read from disk now
 * (metadata) and when written (content).
 */
export function planTar(tree: PackTree): TarEntry[] {
  const out: TarEntry[] = [];
  walkDirectory(tree.root, Buffer.alloc(0), out);
  return out;
}

function childName(parent: Buffer, name: Buffer): Buffer {
  return parent.length === 0 ? name : Buffer.concat([parent, SLASH, name]);
}

function walkDirectory(dir: DirectoryNode, name: Buffer, out: TarEntry[]): void {
  const children = [...dir.children].map(([n, node]) => [Buffer.from(n), node] as const);
  children.sort((a, b) => Buffer.compare(a[0], b[0]));
  for (const [n, node] of children) walkNode(node, childName(name, n), out);
}

function walkNode(node: TreeNode, name: Buffer, out: TarEntry[]): void {
  switch (node.kind) {
    case 'directory':
      // Directories a format makes itself keep their mode as given (`/tmp` is 1777).
      out.push({ name, type: 'directory', mode: node.mode & 0o7777, size: 0 });
      walkDirectory(node, name, out);
      return;
    case 'symlink':
      out.push({ name, type: 'symlink', mode: 0o777 & PERMISSIONS, size: 0, linkname: Buffer.from(node.target) });
      return;
    case 'file':
      out.push({ name, type: 'file', mode: node.mode & 0o7777, size: node.content.length, content: node.content });
      return;
    case 'copy':
      walkPhysical(isAscii(Buffer.from(node.physical)) ? node.physical : Buffer.from(node.physical), name, out);
      return;
  }
}

/**
 * `physical` is a string while every name on the way is ASCII (the usual case: string paths
 * are cheaper in every fs call), a Buffer below a name that is not (any bytes but / and NUL
 * are valid in a name, and must reach the archive unchanged).
 */
function walkPhysical(physical: Buffer | string, name: Buffer, out: TarEntry[]): void {
  const st = lstatSync(physical);
  const mode = st.mode & PERMISSIONS;
  if (st.isFile()) {
    out.push({ name, type: 'file', mode, size: st.size, path: physical });
  } else if (st.isSymbolicLink()) {
    out.push({ name, type: 'symlink', mode, size: 0, linkname: readlinkSync(physical, { encoding: 'buffer' }) });
  } else if (st.isDirectory()) {
    out.push({ name, type: 'directory', mode, size: 0 });
    const names = readdirSync(physical, { encoding: 'buffer' });
    names.sort(Buffer.compare);
    for (const n of names) {
      const child =
        typeof physical === 'string' && isAscii(n) ? `${physical}/${n.toString('latin1')}` : Buffer.concat([Buffer.from(physical), SLASH, n]);
      walkPhysical(child, childName(name, n), out);
    }
  } else {
    throw new TsdslError(`cannot pack \`${physical.toString()}\`: it is a ${fileKind(st.mode)}; a pack holds only files, directories and symbolic links`);
  }
}

function fileKind(mode: number): string {
  const kinds: Record<number, string> = {
    [fsConstants.S_IFSOCK]: 'socket',
    [fsConstants.S_IFIFO]: 'FIFO',
    [fsConstants.S_IFCHR]: 'character device',
    [fsConstants.S_IFBLK]: 'block device',
  };
  return kinds[mode & fsConstants.S_IFMT] ?? 'special file';
}

// ---------------------------------------------------------------------------------------------
// Serialisation

const BLOCK = 512;
// GNU tar pads archives to whole records of 20 blocks; so do we, to stay byte-identical.
const RECORD = 20 * BLOCK;
// Bytes are handed to the sink in chunks of exactly this size (the last one excepted), so the
// chunking — which a compressor could in principle be sensitive to — depends on nothing but
// the archive's bytes.
const CHUNK = 1024 * 1024;
const LONG_LINK = Buffer.from('././@LongLink');
const ROOT = Buffer.from('root');
const GNU_MAGIC = Buffer.from('ustar  \0', 'latin1');
const TYPE_FLAGS = { file: 0x30, symlink: 0x32, directory: 0x35 } as const;

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Options shared by `TarWriter` and `tarSize`. */
export interface TarOptions {
  /** Prepended to every member name: `./` for tarballs (like `tar -C DIR .`), '' for image layers. */
  readonly prefix?: string;
  /**
   * The sink works alongside the writer (a compressor in the thread pool or another process),
   * default true: the writer then reads large files asynchronously and lets the event loop run
   * after every 128 KiB of small files, so the event loop keeps feeding the compressor (zlib's
   * next piece, the pipe to xz or zstd) while files are read. A sink that writes synchronously
   * (no compression) gains nothing from it and goes faster with false.
   */
  readonly cooperative?: boolean;
  /**
   * The sink may keep the chunks it is given past its `write` (default true: compressors
   * queue them); the writer then reuses a chunk's buffer only once the sink releases it. With
   * false, the writer reuses one buffer for all chunks.
   */
  readonly chunksKept?: boolean;
}

/** The exact size in bytes of the archive `TarWriter` writes for `entries`. */
export function tarSize(entries: Iterable<TarEntry>, options: TarOptions = {}): number {
  const prefix = Buffer.byteLength(options.prefix ?? '');
  let size = 0;
  for (const e of entries) {
    const nameLength = prefix + e.name.length + (e.type === 'directory' ? 1 : 0);
    if (nameLength > 100) size += BLOCK + nameLength + 1 + padding(nameLength + 1);
    if (e.linkname && e.linkname.length > 100) size += BLOCK + e.linkname.length + 1 + padding(e.linkname.length + 1);
    size += BLOCK + e.size + padding(e.size);
  }
  size += 2 * BLOCK;
  return size + ((RECORD - (size % RECORD)) % RECORD);
}

/** Writes `value` as zero-padded octal filling `length - 1` bytes plus a NUL, as GNU tar does. */
function octal(header: Buffer, offset: number, length: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length <= length - 1) {
    header.write(digits.padStart(length - 1, '0'), offset, 'latin1');
    header[offset + length - 1] = 0;
    return;
  }
  // GNU's base-256 extension for numbers that do not fit (files of 8 GiB and more).
  let v = BigInt(value);
  for (let i = length - 1; i > 0; i--) {
    header[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  header[offset] = 0x80;
}

/**
 * One 512-byte GNU tar header (uid/gid 0, owner and group `root`); `name` and `linkname` are
 * cut at 100 bytes (longer ones need a `././@LongLink` member first, which `TarWriter` writes).
 */
export function tarHeader(name: Buffer, typeflag: number, mode: number, size: number, mtime: number, linkname: Buffer | undefined): Buffer {
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0, 0, Math.min(name.length, 100));
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156);
  h[156] = typeflag;
  if (linkname) linkname.copy(h, 157, 0, Math.min(linkname.length, 100));
  GNU_MAGIC.copy(h, 257);
  ROOT.copy(h, 265);
  ROOT.copy(h, 297);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  // The checksum is six octal digits, a NUL and a space (the space is already there).
  h.write(sum.toString(8).padStart(6, '0'), 148, 'latin1');
  h[154] = 0;
  return h;
}

/**
 * Receives archive bytes in order; a returned promise is awaited before more come. A sink that
 * keeps chunks (see `TarOptions.chunksKept`) may call `release` when it no longer needs one, so
 * the writer can reuse its buffer.
 */
export type Sink = (chunk: Buffer, release: () => void) => void | Promise<void>;

/**
 * Streams a GNU tar archive to a sink. Members are added one at a time (`add`), or a file's
 * content is streamed from elsewhere (`beginFile`, `raw`, `endFile` — how a docker archive
 * embeds its layers); `finish` writes the end-of-archive blocks and pads to a whole record.
 */
export class TarWriter {
  private block: Buffer = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  /** Bytes of archive produced so far (including those not yet handed to the sink). */
  bytes = 0;
  private streaming: { remaining: number; size: number; name: string } | undefined;
  private readonly prefix: Buffer;

  constructor(
    private readonly sink: Sink,
    options: TarOptions & { onChunk?: (bytes: number) => void } = {},
  ) {
    this.prefix = Buffer.from(options.prefix ?? '');
    this.onChunk = options.onChunk;
    this.cooperative = options.cooperative ?? true;
    this.chunksKept = options.chunksKept ?? true;
  }

  private readonly cooperative: boolean;
  // `bytes` when the event loop last had a turn.
  private lastTurn = 0;
  private readonly chunksKept: boolean;

  private readonly onChunk: ((bytes: number) => void) | undefined;

  /** Appends a member: its header(s), then its content read from its source. */
  async add(entry: TarEntry): Promise<void> {
    await this.header(entry.name, entry.type, entry.mode, entry.size, entry.linkname);
    if (entry.type !== 'file' || entry.size === 0) return;
    if (entry.path !== undefined) await this.copyFile(entry.path, entry.size);
    else if (entry.content !== undefined) {
      if (entry.content.length !== entry.size) throw new Error(`tar member ${entry.name.toString()}: ${entry.content.length} bytes given for size ${entry.size}`);
      await this.put(entry.content);
    } else throw new Error(`tar member ${entry.name.toString()} has no content`);
    await this.put(ZERO_BLOCK.subarray(0, padding(entry.size)));
    if (this.cooperative && this.bytes - this.lastTurn >= TURN_BYTES) {
      // Small files are read synchronously: give the compressor's I/O callbacks a turn.
      this.lastTurn = this.bytes;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Starts a file member of `size` bytes whose content follows through `raw`. */
  async beginFile(name: string, size: number, mode = 0o644): Promise<void> {
    await this.header(Buffer.from(name), 'file', mode, size, undefined);
    this.streaming = { remaining: size, size, name };
  }

  /** Content of the member started by `beginFile`. */
  raw(bytes: Uint8Array): void | Promise<void> {
    const s = this.streaming;
    if (!s) throw new Error('TarWriter.raw outside beginFile/endFile');
    if (bytes.length > s.remaining) throw new Error(`tar member ${s.name}: more than the announced ${s.size} bytes`);
    s.remaining -= bytes.length;
    return this.put(bytes);
  }

  /** Ends the member started by `beginFile`; its content must have had exactly the announced size. */
  async endFile(): Promise<void> {
    const s = this.streaming;
    if (!s) throw new Error('TarWriter.endFile without beginFile');
    if (s.remaining !== 0) throw new Error(`tar member ${s.name}: ${s.size - s.remaining} bytes written, ${s.size} announced`);
    this.streaming = undefined;
    await this.put(ZERO_BLOCK.subarray(0, padding(s.size)));
  }

  /** Writes the end of the archive and hands the last bytes to the sink. */
  async finish(): Promise<void> {
    await this.put(ZERO_BLOCK);
    await this.put(ZERO_BLOCK);
    const pad = (RECORD - (this.bytes % RECORD)) % RECORD;
    await this.put(Buffer.alloc(pad));
    await this.flush();
  }

  private async header(name: Buffer, type: TarEntry['type'], mode: number, size: number, linkname: Buffer | undefined): Promise<void> {
    const parts = [this.prefix, name];
    if (type === 'directory') parts.push(SLASH);
    const full = Buffer.concat(parts);
    if (linkname && linkname.length > 100) await this.longLink(0x4b /* K */, linkname);
    if (full.length > 100) await this.longLink(0x4c /* L */, full);
    await this.put(tarHeader(full, TYPE_FLAGS[type], mode, size, 1, linkname));
  }

  /** GNU's long name ('L') or long link target ('K') pseudo-member. */
  private async longLink(type: number, value: Buffer): Promise<void> {
    const data = Buffer.concat([value, ZERO_BLOCK.subarray(0, 1)]);
    await this.put(tarHeader(LONG_LINK, type, 0o644, data.length, 0, undefined));
    await this.put(data);
    await this.put(ZERO_BLOCK.subarray(0, padding(data.length)));
  }

  private put(bytes: Uint8Array): void | Promise<void> {
    if (bytes.length === 0) return;
    if (this.used + bytes.length < CHUNK) {
      this.block.set(bytes, this.used);
      this.used += bytes.length;
      this.bytes += bytes.length;
      return;
    }
    return this.putSlow(bytes);
  }

  private async putSlow(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(CHUNK - this.used, bytes.length - off);
      this.block.set(bytes.subarray(off, off + n), this.used);
      this.used += n;
      this.bytes += n;
      off += n;
      if (this.used === CHUNK) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.used === 0) return;
    const block = this.block;
    const chunk = this.used === CHUNK ? block : block.subarray(0, this.used);
    // A sink that may keep the chunk (a compressor queues it) gets another buffer next time,
    // and gives this one back when it is done; otherwise one buffer serves throughout. Reusing
    // buffers spares a page fault per 4 KiB written and the garbage collector's time.
    let release = NO_RELEASE;
    if (this.chunksKept) {
      this.block = this.pool.pop() ?? Buffer.allocUnsafe(CHUNK);
      release = () => void this.pool.push(block);
    }
    this.onChunk?.(this.bytes);
    await this.sink(chunk, release);
    this.used = 0;
  }

  // Chunk buffers the sink has released.
  private readonly pool: Buffer[] = [];

  /**
   * Copies a file's bytes straight into the chunk buffer. Small files are read synchronously
   * (a thread-pool round trip would cost more than the read); large ones asynchronously unless
   * `cooperative` is false, so that the event loop keeps feeding the compressor (a pipe to xz or
   * zstd, zlib's thread-pool jobs) while the disk or page cache delivers the next megabyte.
   */
  private async copyFile(path: Buffer | string, size: number): Promise<void> {
    if (size > SMALL_FILE && this.cooperative) return this.copyLargeFile(path, size);
    const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      if (size < CHUNK - this.used) {
        // One read for the whole file: asking for one byte more than its size, a short read
        // of exactly `size` bytes also proves the file ends there (saves a syscall per file).
        const n = readSync(fd, this.block, this.used, size + 1, null);
        if (n !== size) changedSize(path);
        this.used += size;
        this.bytes += size;
        return;
      }
      let remaining = size;
      while (remaining > 0) {
        const n = readSync(fd, this.block, this.used, Math.min(remaining, CHUNK - this.used), null);
        if (n === 0) changedSize(path);
        this.used += n;
        this.bytes += n;
        remaining -= n;
        if (this.used === CHUNK) await this.flush();
      }
      // A file that grew would silently lose its tail: check it ends where its size said.
      if (readSync(fd, ONE_BYTE, 0, 1, null) !== 0) changedSize(path);
    } finally {
      closeSync(fd);
    }
  }

  private async copyLargeFile(path: Buffer | string, size: number): Promise<void> {
    const handle = await fsp.open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      let remaining = size;
      while (remaining > 0) {
        const { bytesRead: n } = await handle.read(this.block, this.used, Math.min(remaining, CHUNK - this.used), null);
        if (n === 0) changedSize(path);
        this.used += n;
        this.bytes += n;
        remaining -= n;
        if (this.used === CHUNK) await this.flush();
      }
      if ((await handle.read(ONE_BYTE, 0, 1, null)).bytesRead !== 0) changedSize(path);
    } finally {
      await handle.close();
    }
  }
}

// Files up to this size are read with synchronous calls.
const SMALL_FILE = 256 * 1024;
// With a cooperative sink, the event loop gets a turn after this many bytes of small files:
// about what a pipe holds, so a compressor reading one rarely runs dry.
const TURN_BYTES = 128 * 1024;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
const NO_RELEASE = (): void => {};
const ONE_BYTE = Buffer.alloc(1);

function changedSize(path: Buffer | string): never {
  throw new TsdslError(`\`${path.toString()}\` changed size while it was being packed; store items must not change — check that nothing writes to it and try again`);
}

/**
 * Writes `entries` as a complete tar archive to `sink`; returns the archive's size.
 * `onProgress` gets (bytes written, total bytes) after each chunk.
 */
export async function writeTar(
  entries: readonly TarEntry[],
  sink: Sink,
  options: TarOptions & { onProgress?: (done: number, total: number) => void } = {},
): Promise<number> {
  const total = tarSize(entries, options);
  const onProgress = options.onProgress;
  const writer = new TarWriter(sink, { ...options, ...(onProgress ? { onChunk: (done: number) => onProgress(done, total) } : {}) });
  for (const e of entries) await writer.add(e);
  await writer.finish();
  if (writer.bytes !== total) throw new Error(`tar: wrote ${writer.bytes} bytes, planned ${total}`);
  return total;
}
