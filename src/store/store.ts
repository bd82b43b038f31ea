/**
 * The store: content-addressed and input-addressed items under a logical store dir, kept
 * physically under `<root>/store` with their metadata in `<root>/var/db.sqlite`.
 *
 * Lowering writes builder scripts and `.drv` files here (`addTextToStore`,
 * `writeDerivations`), fetchers and `local()` origins add sources (`addToStoreFromPath`),
 * the builder registers outputs (`registerPath`), and packs read closures
 * (`queryRequisites`). The `Store` interface is what the rest of tsdsl sees, so tests can
 * open a store on a temporary root and exercise the real code.
 *
 * Crash safety: an item is written under `<root>/store/.tmp/`, made read-only with mtime 1,
 * renamed into place, and only then committed to the database in one transaction. A crash
 * (even kill -9) at any point leaves either no row or a complete item; leftover temporary
 * files of dead processes are removed on the next open, and a stale unregistered item at
 * a final path is replaced by the next add. Tree-shaped items are moved into place under a
 * per-path lock (`lock.ts`). Text items (builder scripts, `.drv` files) are not locked:
 * their bytes are fixed by their path, so each is created at its final name with O_EXCL
 * (never truncated); when the name is taken it is written under `.tmp/` and renamed over,
 * which replaces a regular file atomically, so racing writers can only put the same bytes
 * in place (docs/architecture.md, "Performance", has the whole argument).
 *
 * Garbage collection (`gc.ts`) deletes through `deletePaths`: under the write lock of the
 * database, each item is renamed into `.tmp/` and its row removed in the same transaction,
 * and only after the commit are its files deleted. A crash before the commit leaves the
 * renamed item with its row still valid, and the next open puts it back; a crash after it
 * leaves an invalid leftover in `.tmp/` that the next open removes. What a process adds is
 * also recorded as its temporary root (in the database, so writers and the collector are
 * serialised) until it closes the store or dies. A root named by an absolute file name is an
 * indirect root, as Nix's `--add-root`: it holds only while that file is a symlink to the item.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  closeSync,
  constants as fsConstants,
  copyFileSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  futimesSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { Worker } from 'node:worker_threads';
import { basename, dirname, join, resolve } from 'node:path';
import {
  DerivationHasher,
  derivationReferences,
  parseDerivation,
  verifyDerivation,
} from '../derivation/aterm.js';
import type { Derivation, FinalizedDerivation } from '../derivation/aterm.js';
import {
  formatHash,
  isStorePath,
  makeFixedOutputPath,
  makeTextPath,
  nix32Encode,
  parseStorePath,
  sha256,
  storeDirFromEnv,
  validateStoreDir,
} from '../derivation/hash.js';
import type { FixedOutputHash, HashAlgo, IngestionMethod } from '../derivation/hash.js';
import { DISK_FULL, StoreDb, unreadableDatabase } from './db.js';
import type { NewPathInfo, PathInfo } from './path-info.js';
import { LockDirectory, WHERE_PATTERN, ownerAlive, ownerToken } from './lock.js';
import { TsdslError, checkRequestKeys, checkRequestTypes, checkStringList, fieldChecks, shown, isDiskFull, systemFailure, type FieldCheck } from '../errors.js';
import { DerivationFiles } from './drv-files.js';
import { syncFileSystem, syncWorkerScript } from './sync.js';
import { deleteTree, makeDirectories } from './tree.js';
export { deleteTree };
import type { AcquireOptions } from './lock.js';
import { ReferenceScanner, narHash, narHashOfBytes, narHashWith } from './nar.js';

export type { PathInfo } from './path-info.js';

/** Locks held on store paths; release them when the work on those paths is done. */
export interface PathLock {
  readonly paths: readonly string[];
  release(): void;
}

/** Options of `addToStoreFromPath`. */
export interface AddPathOptions {
  /** `recursive` (default): the tree's NAR; `flat`: a regular file's bytes. */
  method?: IngestionMethod;
  /** References of a recursive item (sources normally have none). */
  references?: readonly string[];
}

/**
 * A GC root. `name` is either a plain name (the root holds while its row exists) or an
 * absolute file name: an indirect root, live only while that file is a symlink to the item.
 */
export type GcRoot =
  | { readonly name: string; readonly path: string; readonly indirect?: undefined }
  | { readonly name: string; readonly path: string; readonly indirect: true; readonly live: boolean };

/** True when a root name is an absolute file name, i.e. the root is indirect. */
export function isIndirectRootName(name: string): boolean {
  return name.startsWith('/');
}

/** Options of `LocalStore.deletePaths`. */
export interface DeleteOptions {
  /**
   * Paths that must stay, computed while the database write lock is held (so no root or
   * temporary root can appear between the check and the deletion).
   */
  keep?: () => ReadonlySet<string>;
}

/** What `LocalStore.deletePaths` did. */
export interface DeleteResult {
  /** Paths removed from the valid set (their files, if any, are gone too). */
  deleted: string[];
  /** Bytes of regular files freed (files with other hard links do not count). */
  freedBytes: number;
}

/** Options of `registerPath`. */
export interface RegisterOptions {
  /** The item's references, if already known. */
  references?: readonly string[];
  /** Store paths whose hash part to scan the item for (e.g. the build's input closure plus its own outputs). */
  referenceCandidates?: readonly string[];
  /** The `.drv` that produced the item. */
  deriver?: string;
  /** Expected content of a fixed output: registration fails if the item does not match. */
  fixed?: FixedOutputHash;
  /** A lock on the path already held by the caller (from `lockPaths`). */
  lock?: PathLock;
}

/** The store as the rest of tsdsl uses it. Queries are synchronous; operations over trees are async. */
export interface Store {
  /** The logical store directory every path starts with. */
  readonly storeDir: string;
  /** Where a store path's bytes are on this machine. */
  physicalPath(storePath: string): string;
  isValid(path: string): boolean;
  /** The valid paths among `paths` (one database query however many there are). */
  validAmong(paths: readonly string[]): Set<string>;
  queryPathInfo(path: string): PathInfo | undefined;
  queryReferences(path: string): string[];
  queryReferrers(path: string): string[];
  /** The closure of `paths` (themselves included), sorted. */
  queryRequisites(paths: readonly string[]): string[];
  /** Output name → path recorded for a stored `.drv`. */
  queryDerivationOutputs(drvPath: string): Record<string, string>;
  /** Stored `.drv` files that have `outputPath` as an output. */
  queryDerivers(outputPath: string): string[];
  addTextToStore(name: string, text: string | Uint8Array, references: readonly string[]): string;
  addToStoreFromPath(name: string, srcPath: string, options?: AddPathOptions): Promise<string>;
  /** A fresh directory on the store's file system for building an item to register. */
  makeTempDir(label?: string): string;
  registerPath(storePath: string, tempPath: string, options?: RegisterOptions): Promise<PathInfo>;
  /** Registers items (a build's outputs) in one transaction: all or none; they may refer to each other, but not in a cycle. */
  registerPaths(items: ReadonlyArray<{ path: string; tempPath: string; options?: RegisterOptions }>): Promise<PathInfo[]>;
  lockPaths(paths: readonly string[], options?: AcquireOptions): Promise<PathLock>;
  writeDerivation(drv: Derivation, name: string): string;
  /** Writes finalized derivations in one batch; `files` (from `derivationFiles()`) may have created some of their files already. */
  writeDerivations(items: readonly FinalizedDerivation[], files?: DerivationFiles): string[];
  /** A writer that creates `.drv` files on another thread while lowering runs; pass it to writeDerivations. */
  derivationFiles(): DerivationFiles;
  readDerivation(drvPath: string): Derivation;
  addRoot(storePath: string, name?: string): string;
  removeRoot(name: string): boolean;
  listRoots(): GcRoot[];
  /** Protects `paths` (and their closures) from garbage collection until this store is closed or the process dies. */
  addTempRoots(paths: Iterable<string>): void;
  /** Runs synchronous store writes in one database transaction, with file syncs batched. */
  batch<T>(fn: () => T): T;
  close(): void;
}

/** How to open a local store. */
export interface OpenStoreOptions {
  /** Physical root; default `$TSDSL_ROOT`, `$XDG_DATA_HOME/tsdsl` or `~/.local/share/tsdsl`. */
  root?: string;
  /** Logical store dir; default `$TSDSL_STORE_DIR` or `/tsdsl/store`. */
  storeDir?: string;
  /** Environment to read defaults from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** fsync files and directories before committing (default true); tests may turn it off for speed. */
  durable?: boolean;
  /** Registration time source in seconds (default: the clock). */
  now?: () => number;
  /**
   * Commands that only read (verify, gc, size, log) open an existing store: a root with no store
   * yet is an error naming it (a misspelt TSDSL_ROOT), not an empty store made there.
   */
  existing?: boolean;
  /**
   * The store keeps 1 MiB of reserved space (`var/reserved`), as Nix's gc does: on a full disk,
   * where SQLite cannot even open the database, a store opened with this gives that space up so
   * that `tsdsl gc` can run and free more. It is made again once there is room.
   */
  useReserve?: boolean;
  /**
   * Opens the store only to read it: no directory is made, nothing tidied, no reserve or temporary
   * root written, the database opened with SQLite's read-only flag (Nix's `?read-only=true`), and
   * every write a TsdslError saying so. `'if-not-writable'`: only a store this user may not write
   * (another user's, read-only files or mount), which is otherwise refused; the query commands
   * (size, log, verify, gc's queries and listings, derivation show PATH) open stores so. Safe
   * while nothing changes the store: a change its owner makes meanwhile can make a read fail.
   */
  readOnly?: boolean | 'if-not-writable';
}

const RESERVED_BYTES = 1 << 20;

const OPEN_STORE_KEYS = Object.keys({ root: 1, storeDir: 1, env: 1, durable: 1, now: 1, existing: 1, useReserve: 1, readOnly: 1 } satisfies Record<keyof OpenStoreOptions, 1>);
const ADD_PATH_KEYS = Object.keys({ method: 1, references: 1 } satisfies Record<keyof AddPathOptions, 1>);
const ADD_PATH_CHECKS: Readonly<Record<string, FieldCheck>> = {
  method: [(v) => v === 'flat' || v === 'recursive', "'flat' or 'recursive'"],
  references: fieldChecks.texts,
};
const REGISTER_KEYS = Object.keys({ references: 1, referenceCandidates: 1, deriver: 1, fixed: 1, lock: 1 } satisfies Record<keyof RegisterOptions, 1>);
const REGISTER_CHECKS: Readonly<Record<string, FieldCheck>> = {
  references: fieldChecks.texts,
  referenceCandidates: fieldChecks.texts,
  deriver: fieldChecks.text,
};
const OPEN_STORE_CHECKS: Readonly<Record<string, FieldCheck>> = {
  root: fieldChecks.text,
  storeDir: fieldChecks.text,
  env: [(v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object of variables, as process.env'],
  durable: fieldChecks.boolean,
  now: fieldChecks.function,
  existing: fieldChecks.boolean,
  useReserve: fieldChecks.boolean,
  readOnly: [(v) => typeof v === 'boolean' || v === 'if-not-writable', "true, false or 'if-not-writable'"],
};

/** The physical root of the local store, from `TSDSL_ROOT`, `XDG_DATA_HOME` or the home dir. */
export function storeRootFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const root = env['TSDSL_ROOT'];
  if (root) {
    if (!root.startsWith('/')) throw new TsdslError(`TSDSL_ROOT \`${root}\` is not absolute; use an absolute path`);
    return root;
  }
  const xdg = env['XDG_DATA_HOME'];
  if (xdg && xdg.startsWith('/')) return join(xdg, 'tsdsl');
  return join(env['HOME'] || homedir(), '.local', 'share', 'tsdsl');
}

/**
 * Checks that the store an API request gave (`store`) is one `openStore` made and still open,
 * among the request's first checks (before anything is built or run). `who` names the API call.
 */
export function checkRequestStore(given: unknown, who: string): void {
  if (given === undefined) return;
  if (!(given instanceof LocalStore)) throw new TsdslError(`${who}: \`store\` must be a store made by openStore(), not ${typeof given === 'object' ? 'another object' : typeof given}`);
  if (!given.isOpen) {
    throw new TsdslError(`${who}: \`store\` (${given.root}) was closed before ${who} used it; close it once ${who} has resolved, or leave \`store\` out to use the default store`);
  }
}

/** Checks the store an API function takes first (`collectGarbage(store, …)`): one openStore() made, still open. */
export function checkStoreArgument(given: unknown, who: string): void {
  if (!(given instanceof LocalStore)) {
    throw new TsdslError(`${who} takes a store made by openStore() first, not ${given === undefined ? 'nothing' : typeof given === 'object' && given !== null ? 'another object' : typeof given}: ${who.replace('()', '')}(openStore(), …)`);
  }
  if (!given.isOpen) throw new TsdslError(`${who}: the store (${given.root}) was closed before ${who} used it; close it once ${who} has returned`);
}

/** Opens (creating if needed) the local store. Loads the SQLite binding on first use. */
export function openStore(options: OpenStoreOptions = {}): LocalStore {
  // A misspelt field (`rooot`) would open the default store, the user's own, instead.
  checkRequestKeys(options, OPEN_STORE_KEYS, 'openStore()');
  checkRequestTypes(options, OPEN_STORE_CHECKS, 'openStore()');
  const env = options.env ?? process.env;
  const storeDir = validateStoreDir(options.storeDir ?? storeDirFromEnv(env), 'store directory');
  const root = options.root ?? storeRootFromEnv(env);
  if (!root.startsWith('/')) throw new TsdslError(`store root \`${root}\` is not absolute; use an absolute path`);
  refuseRootInsideStore(root, options.root !== undefined ? 'the root given to openStore()' : 'TSDSL_ROOT');
  // With items but no database, the store was not "never built in": LocalStore says what it is.
  if (options.existing && !existsSync(join(root, 'var', 'db.sqlite')) && itemNames(join(root, 'store')).length === 0) {
    const named = options.root !== undefined ? 'the root given to openStore()' : env['TSDSL_ROOT'] ? 'TSDSL_ROOT' : 'the default; TSDSL_ROOT is unset';
    throw new TsdslError(`there is no store at ${root} (${named}): nothing was built there yet, or ${options.root !== undefined ? 'the root' : 'TSDSL_ROOT'} is misspelt`);
  }
  return new LocalStore(root, storeDir, options);
}

/**
 * Refuses a root inside another store's `store/` or `var/` (`…/tsdsl/store` given as the root):
 * a new store would be made among the first one's items.
 */
function refuseRootInsideStore(root: string, named: string): void {
  for (let below = resolve(root), dir = dirname(below); below !== '/'; below = dir, dir = dirname(dir)) {
    const part = basename(below);
    if ((part === 'store' || part === 'var') && existsSync(join(dir, 'var', 'db.sqlite')) && existsSync(join(dir, 'store'))) {
      throw new TsdslError(`the store root ${root} (${named}) is inside the store at ${dir}, among its own files; give that store's root, ${dir}, or a directory outside it`);
    }
  }
}

/**
 * Why this user may not write the store at `root` (whose files are `files`): another user's (even
 * one opened up with chmod, or root looking at a user's: items of mixed owners could be collected
 * or repaired by neither), or one whose files or mount are read-only; undefined when it may be
 * written, or is not there yet (it is made, or refused, as for writing).
 */
function notWritable(root: string, files: readonly string[]): string | undefined {
  const st = statSync(root, { throwIfNoEntry: false });
  if (!st) return undefined;
  if (process.getuid && st.uid !== process.getuid()) return `it belongs to another user, uid ${st.uid}`;
  for (const f of files) {
    try {
      accessSync(f, fsConstants.W_OK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return `${f} is not writable by you`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// File-system helpers

/** The items of a store directory (names starting with `.` are its own); none if it does not exist. */
function itemNames(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

const CANONICAL_TIME = 1;
// Creating files with mode 0444 saves an fchmod per file, unless the umask removes read bits.
// (process.umask() is deprecated for reading; the value is read once, at load time.)
const UMASK_HIDES_READ = (process.umask() & 0o444) !== 0;
// Up to this many new files are fsynced one by one; more get one syncfs of the file system.
const FSYNC_EACH_LIMIT = 32;
const TMP_DIR = '.tmp';
/** Names of items a collector moved into TMP_DIR: `<pid>-<start>-<n>~<store base name>`. */
const TRASH_NAME = new RegExp(`^\\d+-\\d+-(?:${WHERE_PATTERN}-)?\\d+~(.+)$`);
/** A temporary item's owner in its name: pid, start time, and (since they carry it) where. */
const TEMP_OWNER = new RegExp(`^(\\d+)-(\\d+)-(?:(${WHERE_PATTERN})-)?`);

// `syncFileSystem` in a worker thread (startSync); reports 1 when done, 2 when it failed.
const SYNC_WORKER = syncWorkerScript(`
const { workerData } = require('node:worker_threads');
let done = 1;
try { syncFileSystem(workerData.dir); } catch { done = 2; }
Atomics.store(workerData.flag, 0, done);
Atomics.notify(workerData.flag, 0);
`);
// How long startSync's caller waits for the worker before syncing itself.
const SYNC_WAIT_MS = 120_000;

/**
 * Refuses references that go round among items registered together (`out` naming `doc` and
 * `doc` naming `out`): a closure must be acyclic, as Nix requires, or no order could copy it.
 */
function refuseCycles(infos: readonly NewPathInfo[], together: ReadonlySet<string>): void {
  const refs = new Map(infos.map((i) => [i.path, i.references.filter((r) => r !== i.path && together.has(r))]));
  const state = new Map<string, 'open' | 'done'>();
  const visit = (path: string, trail: string[]): void => {
    if (state.get(path) === 'done') return;
    if (state.get(path) === 'open') {
      const cycle = [...trail.slice(trail.indexOf(path)), path].map((p) => basename(p)).join(' → ');
      throw new TsdslError(`the outputs refer to each other in a cycle (${cycle}); one output may refer to another, but not back: keep the other's path out of one of them`);
    }
    state.set(path, 'open');
    for (const r of refs.get(path) ?? []) visit(r, [...trail, path]);
    state.set(path, 'done');
  };
  for (const i of infos) visit(i.path, []);
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function describeKind(mode: number): string {
  switch (mode & fsConstants.S_IFMT) {
    case fsConstants.S_IFSOCK:
      return 'a socket';
    case fsConstants.S_IFIFO:
      return 'a FIFO';
    case fsConstants.S_IFCHR:
      return 'a character device';
    case fsConstants.S_IFBLK:
      return 'a block device';
    default:
      return 'a special file';
  }
}

/**
 * Puts a tree in canonical form: files 0444 (0555 if owner-executable), directories 0555,
 * no setuid/setgid/sticky bits, every mtime 1. The top directory stays writable (0755)
 * when `keepTopWritable`, because renaming a directory to a new parent needs write
 * permission on it; the caller finishes it after the rename.
 */
function canonicalise(path: Buffer, keepTopWritable: boolean): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) {
    // Fall through to the time below.
  } else if (st.isFile()) {
    chmodSync(path, st.mode & 0o100 ? 0o555 : 0o444);
  } else if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path, { encoding: 'buffer' })) canonicalise(Buffer.concat([path, SLASH, name]), false);
    chmodSync(path, keepTopWritable ? 0o755 : 0o555);
  } else {
    throw new TsdslError(`cannot put \`${path.toString()}\` in the store: it is ${describeKind(st.mode)}; only regular files, symlinks and directories are allowed`);
  }
  lutimesSync(path, CANONICAL_TIME, CANONICAL_TIME);
}

const SLASH = Buffer.from('/');

/** Copies a tree (symlinks as symlinks) into a new path, in canonical form except the top's write bit. */
function copyTree(src: Buffer, dest: Buffer, top: boolean): void {
  const st = lstatSync(src);
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src, { encoding: 'buffer' }), dest);
  } else if (st.isFile()) {
    copyFileSync(src, dest, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    chmodSync(dest, st.mode & 0o100 ? 0o555 : 0o444);
  } else if (st.isDirectory()) {
    mkdirSync(dest, { mode: 0o755 });
    for (const name of readdirSync(src, { encoding: 'buffer' })) {
      copyTree(Buffer.concat([src, SLASH, name]), Buffer.concat([dest, SLASH, name]), false);
    }
    chmodSync(dest, top ? 0o755 : 0o555);
  } else {
    throw new TsdslError(`cannot add \`${src.toString()}\` to the store: it is ${describeKind(st.mode)}; only regular files, symlinks and directories are allowed`);
  }
  lutimesSync(dest, CANONICAL_TIME, CANONICAL_TIME);
}

function fileHash(algo: string, path: string): Buffer {
  const h = createHash(algo);
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest();
}

/** True when something (even a dangling symlink) is at `path`. */
function occupied(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function caString(kind: 'text' | 'fixed', method: IngestionMethod, algo: HashAlgo, digest: Buffer): string {
  const m = kind === 'fixed' && method === 'recursive' ? 'r:' : '';
  return `${kind}:${m}${algo}:${nix32Encode(digest)}`;
}

/** The UTF-8 bytes of a text item, in a buffer reused from one item to the next. */
let textScratch = Buffer.allocUnsafe(1 << 16);
function textBytes(contents: string | Uint8Array): Uint8Array {
  if (typeof contents !== 'string') return contents;
  if (contents.length * 3 > textScratch.length) textScratch = Buffer.allocUnsafe(Math.max(contents.length * 3, textScratch.length * 2));
  return textScratch.subarray(0, textScratch.write(contents, 0, 'utf8'));
}

function narHashString(hash: Buffer): string {
  return 'sha256:' + nix32Encode(hash);
}

// ---------------------------------------------------------------------------------------

interface TextItem {
  path: string;
  contents: string | Uint8Array;
  /** SHA-256 (hex) of `contents`, when the caller has it already. */
  sha256Hex?: string | undefined;
  references: readonly string[];
  derivationOutputs?: Record<string, string>;
}

/** The local store on this machine. */
export class LocalStore implements Store {
  /** `<root>/store`: where items live. */
  readonly storeRoot: string;
  private readonly tmpRoot: string;
  private readonly openDb: StoreDb;

  /** The database, while the store is open: once closed, a TsdslError, not SQLite's own. */
  private get db(): StoreDb {
    this.requireOpen();
    return this.openDb;
  }

  private requireOpen(): void {
    if (!this.openDb.db.open) throw new TsdslError(`the store at ${this.root} was closed; open it again with openStore() (or close it only once you are done with it)`);
  }
  private readonly locks: LockDirectory;
  /** Why the store was opened read-only (`openStore({ readOnly })`), or undefined when it may be written. */
  readonly readOnly: string | undefined;
  private readonly durable: boolean;
  private readonly now: () => number;
  // In the names of its temporary items: `PID-START-WHERE` (see ownerToken).
  private readonly owner = ownerToken().replaceAll(' ', '-');
  /** Owner of this instance's temporary roots: the process token plus an instance id. */
  private readonly tempRootOwner = `${ownerToken()} ${randomBytes(4).toString('hex')}`;
  /** Paths whose temporary root is committed, so they need no second insert. */
  private readonly tempRooted = new Set<string>();
  private hasTempRoots = false;
  private tmpCounter = 0;
  private batchDepth = 0;
  /** Files renamed into place whose data still needs syncing before their rows commit. */
  private unsynced: string[] = [];
  /** Hash modulo of stored derivations, for checking new ones in O(1) per input. */
  readonly hasher: DerivationHasher;

  constructor(
    readonly root: string,
    readonly storeDir: string,
    options: OpenStoreOptions = {},
  ) {
    this.storeRoot = join(root, 'store');
    this.tmpRoot = join(this.storeRoot, TMP_DIR);
    const varDir = join(root, 'var');
    const lockDir = join(varDir, 'locks');
    const dbFile = join(varDir, 'db.sqlite');
    this.readOnly = options.readOnly === true ? 'as asked' : options.readOnly === 'if-not-writable' ? notWritable(root, [this.storeRoot, this.tmpRoot, varDir, lockDir, dbFile]) : undefined;
    this.durable = options.durable ?? true;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.hasher = new DerivationHasher(storeDir, (p) => this.readDerivation(p));
    this.locks = new LockDirectory(lockDir, (fn) => this.db.exclusive(fn));
    if (this.readOnly !== undefined) {
      this.openDb = this.openReadOnly(dbFile, this.readOnly);
      return;
    }
    try {
      for (const d of [this.storeRoot, this.tmpRoot, varDir, lockDir]) makeDirectories(d);
    } catch (e) {
      throw new TsdslError(`cannot create the store at ${root} (${(e as Error).message}); set TSDSL_ROOT to a writable directory`);
    }
    // Another user's store is refused even where it could be written (by root, or opened up with
    // chmod): items of mixed owners cannot be collected or repaired by either (EPERM).
    const owner = statSync(root).uid;
    if (process.getuid && owner !== process.getuid()) {
      throw new TsdslError(`the store at ${root} belongs to another user (uid ${owner}); set TSDSL_ROOT to a store of your own`);
    }
    // A read-only one opens, but its first write would fail deep in a command (SQLite opens a
    // file it cannot write read-only, without a word): refuse it here.
    for (const f of [this.storeRoot, this.tmpRoot, varDir, lockDir, ...(existsSync(dbFile) ? [dbFile] : [])]) {
      try {
        accessSync(f, fsConstants.W_OK);
      } catch {
        throw new TsdslError(`the store at ${root} is not writable by you (${f}): it belongs to another user or is read-only; set TSDSL_ROOT to a store of your own`);
      }
    }
    this.lostDatabase(dbFile);
    // A database file without the store's tables (what a failed recovery leaves) too.
    const newDatabase = () => this.lostDatabase(dbFile, 'has no tables');
    const reserved = join(varDir, 'reserved');
    try {
      try {
        this.openDb = new StoreDb(dbFile, storeDir, newDatabase);
      } catch (e) {
        if (!(options.useReserve && isDiskFull(e) && existsSync(reserved))) throw e;
        rmSync(reserved, { force: true });
        this.openDb = new StoreDb(dbFile, storeDir, newDatabase);
      }
    } catch (e) {
      // A query on a full disk (which cannot make the database's WAL files, nor tidy): read-only,
      // as for a store this user may not write, so that `size`, `log` and `gc --list-dead` still
      // answer (the database of a store closed cleanly is whole in its file).
      if (options.readOnly === 'if-not-writable' && isDiskFull(e)) {
        this.readOnly = DISK_FULL;
        this.openDb = this.openReadOnly(dbFile, this.readOnly);
        return;
      }
      const code = (e as { code?: string }).code ?? '';
      if (/^SQLITE_(READONLY|CANTOPEN|PERM|AUTH)/.test(code)) {
        throw new TsdslError(
          `cannot open the store database ${dbFile} for writing (${(e as Error).message}); the store at ${root} belongs to another user or is read-only: set TSDSL_ROOT to a store of your own`,
        );
      }
      throw systemFailure(e, dbFile) ?? e;
    }
    try {
      this.cleanup();
    } catch (e) {
      // Housekeeping: on a full disk the store must still open (gc is what frees space).
      if (!systemFailure(e)) throw e;
    }
    if (!existsSync(reserved)) {
      try {
        writeFileSync(reserved, Buffer.alloc(RESERVED_BYTES));
      } catch {
        rmSync(reserved, { force: true }); // no room yet: made at a later open
      }
    }
  }

  /** The database opened read-only (because of `why`): nothing made, tidied or reserved; what is there is only read. */
  private openReadOnly(dbFile: string, why: string): StoreDb {
    try {
      statSync(dbFile);
    } catch (e) {
      // Behind a directory this user may not enter, it is not missing, but unreadable.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadableDatabase(dbFile, why, e);
    }
    if (!existsSync(dbFile) && itemNames(this.storeRoot).length === 0) throw new TsdslError(`there is no store at ${this.root}: nothing was built there yet`);
    this.lostDatabase(dbFile);
    return new StoreDb(dbFile, this.storeDir, () => this.lostDatabase(dbFile, 'has no tables'), undefined, why);
  }

  /**
   * Refuses a missing or emptied database (or, with `what`, one without tables) beside a store
   * that holds items: it was lost or replaced, and a new one would call every item a leftover of
   * a crash, for the next gc to delete.
   */
  private lostDatabase(dbFile: string, what?: string): void {
    what ??= !existsSync(dbFile) ? 'is missing' : statSync(dbFile).size === 0 ? 'is empty' : undefined;
    if (what === undefined) return;
    const items = itemNames(this.storeRoot);
    if (items.length) {
      throw new TsdslError(
        `the store database ${dbFile} ${what}, but ${this.storeRoot} holds ${items.length} item${items.length === 1 ? '' : 's'}: the database was lost or replaced. Restore it from a backup; or, to start over, move ${this.root} away (a new store is made at the next command)`,
      );
    }
  }

  /** Refuses a write when the store was opened read-only. */
  private requireWritable(what: string): void {
    if (this.readOnly !== undefined) throw this.openDb.readOnlyError(what);
  }

  /**
   * Removes temporary items and lock scraps left by processes that died, and puts back the
   * items of a collector that died before committing their deletion. Returns how many
   * leftovers it removed.
   */
  removeStaleTemporaries(): number {
    this.requireWritable('removing stale temporaries');
    let removed = 0;
    for (const name of readdirSync(this.tmpRoot)) {
      const m = TEMP_OWNER.exec(name);
      if (m && ownerAlive(`${m[1]} ${m[2]}${m[3] ? ` ${m[3]}` : ''}`)) continue;
      const file = join(this.tmpRoot, name);
      const trash = TRASH_NAME.exec(name);
      if (trash && this.restoreTrash(file, trash[1]!)) continue;
      deleteTree(file);
      removed++;
    }
    this.locks.cleanup();
    return removed;
  }

  /** Puts an item a dead collector moved aside back in place if its row is still valid. */
  private restoreTrash(file: string, base: string): boolean {
    const path = `${this.storeDir}/${base}`;
    if (!isStorePath(path, this.storeDir)) return false;
    return this.db.exclusive(() => {
      const dest = join(this.storeRoot, base);
      if (!this.db.isValid(path) || occupied(dest) || !occupied(file)) return false;
      renameSync(file, dest);
      if (lstatSync(dest).isDirectory()) chmodSync(dest, 0o555);
      return true;
    });
  }

  private cleanup(): void {
    this.removeStaleTemporaries();
    // The temporary roots of a process killed with -9 (build -d roots what it relies on). Not
    // worth a wait: opening takes no write lock behind another process's; gc purges them too.
    this.purgeStaleTempRoots({ waitMs: 0 });
  }

  /** False once `close()` was called. */
  get isOpen(): boolean {
    return this.openDb.db.open;
  }

  close(): void {
    if (this.hasTempRoots && this.openDb.db.open) {
      try {
        this.openDb.removeTempRoots(this.tempRootOwner);
      } catch {
        // The rows of a dead or closed owner are ignored and purged by the next collection.
      }
      this.tempRooted.clear();
      this.hasTempRoots = false;
    }
    this.openDb.close();
  }

  physicalPath(storePath: string): string {
    parseStorePath(storePath, this.storeDir);
    return join(this.storeRoot, basename(storePath));
  }

  isValid(path: string): boolean {
    return this.db.isValid(path);
  }
  validAmong(paths: readonly string[]): Set<string> {
    checkStringList(paths, 'validAmong()', 'store paths');
    return this.db.validAmong(paths);
  }


  queryPathInfo(path: string): PathInfo | undefined {
    return this.db.queryPathInfo(path);
  }

  private requireValid(path: string, what: string): void {
    if (!this.db.isValid(path)) {
      throw new TsdslError(`${what} \`${path}\` is not valid in the store at ${this.root}; add or build it first`);
    }
  }

  queryReferences(path: string): string[] {
    const refs = this.db.references(path);
    if (refs === undefined) this.requireValid(path, 'path');
    return refs ?? [];
  }

  queryReferrers(path: string): string[] {
    const refs = this.db.referrers(path);
    if (refs === undefined) this.requireValid(path, 'path');
    return refs ?? [];
  }

  queryRequisites(paths: readonly string[]): string[] {
    checkStringList(paths, 'queryRequisites()', 'store paths');
    for (const p of paths) this.requireValid(p, 'path');
    return this.db.requisites(paths);
  }

  queryDerivationOutputs(drvPath: string): Record<string, string> {
    this.requireValid(drvPath, 'derivation');
    return this.db.derivationOutputs(drvPath);
  }

  queryDerivers(outputPath: string): string[] {
    return this.db.derivers(outputPath);
  }

  makeTempDir(label = 'build'): string {
    this.requireOpen();
    this.requireWritable('making a temporary directory in it');
    checkRequestTypes({ label }, { label: fieldChecks.text }, 'makeTempDir()');
    const path = this.tempName(label);
    mkdirSync(path, { mode: 0o755 });
    return path;
  }

  /**
   * Refuses to add a directory that holds this store's root: copying it would copy the copy
   * being made (in the store's temporary directory) until names grew too long.
   */
  private refuseHoldingStore(srcPath: string): void {
    const real = (p: string): string => {
      try {
        return realpathSync(p);
      } catch {
        return resolve(p);
      }
    };
    const src = real(srcPath);
    const root = real(this.root);
    if (root === src || root.startsWith(src.endsWith('/') ? src : `${src}/`)) {
      throw new TsdslError(`cannot add \`${srcPath}\` to the store: it holds the store's own root (${this.root}); add a directory that does not, or keep the store (TSDSL_ROOT) elsewhere`);
    }
  }

  private tempName(label: string): string {
    // The owner prefix lets cleanup() tell a dead writer's leftovers from a live one's.
    return join(this.tmpRoot, `${this.owner}-${++this.tmpCounter}-${label.replace(/[^A-Za-z0-9+._?=-]/g, '_').slice(0, 64)}`);
  }

  batch<T>(fn: () => T): T {
    this.requireWritable('a batch of writes');
    this.batchDepth++;
    try {
      return this.db.transaction(() => {
        const result = fn();
        if (result instanceof Promise) {
          throw new TsdslError('store.batch() needs a synchronous function; await asynchronous work before or after the batch');
        }
        if (this.batchDepth === 1) this.syncBatch();
        return result;
      });
    } finally {
      this.batchDepth--;
    }
  }

  /** Makes the files written since the last sync durable, then their directory entries. */
  private syncBatch(): void {
    const files = this.unsynced;
    this.unsynced = [];
    if (!this.durable || files.length === 0) return;
    if (files.length <= FSYNC_EACH_LIMIT) {
      for (const f of files) fsyncPath(f);
      fsyncPath(this.storeRoot);
      return;
    }
    syncFileSystem(this.storeRoot);
  }

  /**
   * `syncBatch` that lets the caller work meanwhile: returns a function that waits until the
   * files written since the last sync are durable (throwing if they cannot be made so). For a
   * big batch the file system's sync runs in a worker thread, mostly waiting for the disk,
   * while the caller inserts its rows; the caller commits them only after the wait.
   */
  private startSync(): () => void {
    if (!this.durable || this.unsynced.length <= FSYNC_EACH_LIMIT) return () => this.syncBatch();
    this.unsynced = [];
    const dir = this.storeRoot;
    let flag: Int32Array;
    try {
      flag = new Int32Array(new SharedArrayBuffer(4));
      new Worker(SYNC_WORKER, { eval: true, workerData: { dir, flag } }).unref();
    } catch {
      return () => syncFileSystem(dir);
    }
    return () => {
      // 1: synced; 2: the worker could not sync. Neither in time (a worker that failed to
      // start never answers): sync here, the slow way round.
      Atomics.wait(flag, 0, 0, SYNC_WAIT_MS);
      if (Atomics.load(flag, 0) !== 1) syncFileSystem(dir);
      // Files written after the worker started (written again: see writeTextItems).
      this.syncBatch();
    };
  }

  /**
   * Writes text items (files whose bytes their path fixes) and registers them in one
   * transaction. References must be valid or among the items.
   *
   * Each file is created at its final name with O_EXCL, never truncated, so a registered
   * file is never seen short: when the name is taken (a crash leftover, or another writer of
   * the same bytes), the file is written under a temporary name and renamed over it, which
   * replaces it atomically. Rows are committed only after every file is complete and synced.
   * With `files` (derivations only), its worker may have created some files already.
   */
  private writeTextItems(items: readonly TextItem[], files?: DerivationFiles): void {
    // Every file it will create has been handed over: it finishes and syncs them meanwhile.
    files?.end();
    // Files another process removes from now on may include ones written here (removeUnregistered):
    // from the start of lowering when a worker has been creating them since.
    const removals = files?.removalsAtStart ?? this.db.removals();
    const unique = new Map<string, TextItem>();
    for (const item of items) if (!unique.has(item.path)) unique.set(item.path, item);
    const valid = this.db.validAmong([...unique.keys()]);
    const todo: TextItem[] = [];
    for (const item of unique.values()) if (!valid.has(item.path)) todo.push(item);
    // Temporary roots first: from here on a collector keeps these items (and what they refer
    // to). New items that another new item refers to need none: until the commit they are
    // not valid (the collector deletes only valid paths, and young leftovers), and after it
    // they are in the closure of an item that has one.
    const referenced = new Set<string>();
    for (const item of todo) for (const ref of item.references) referenced.add(ref);
    const roots = [...valid];
    for (const item of todo) if (!referenced.has(item.path)) roots.push(item.path);
    this.addTempRoots(roots);
    // A collector may have deleted a valid item between the check above and its temporary
    // root (deleting re-checks roots under the write lock, so from now on it cannot): look
    // again, and write whatever went meanwhile.
    if (valid.size > 0) {
      const still = this.db.validAmong([...valid]);
      if (still.size !== valid.size) {
        for (const path of valid) {
          if (still.has(path)) continue;
          const item = unique.get(path)!;
          todo.push(item);
          for (const ref of item.references) referenced.add(ref);
        }
      }
    }
    if (todo.length === 0) {
      files?.finish();
      return;
    }
    const outside = [...referenced].filter((ref) => !unique.has(ref));
    const validRefs = this.db.validAmong(outside);
    if (validRefs.size !== outside.length) {
      const missing = outside.find((ref) => !validRefs.has(ref))!;
      const item = todo.find((i) => i.references.includes(missing))!;
      throw new TsdslError(`cannot add ${item.path}: its reference ${missing} is not valid in the store; add it first`);
    }
    // The items' paths were computed for this store dir (makeTextPath, finalize): no parsing.
    const destOf = (item: TextItem): string => this.storeRoot + item.path.slice(this.storeDir.length);
    const writeOwn = (item: TextItem, bytes: Uint8Array): void => {
      const dest = destOf(item);
      this.writeNewFile(dest, bytes, basename(item.path).slice(33));
      this.unsynced.push(dest);
    };
    const rows: NewPathInfo[] = [];
    const now = this.now();
    for (const item of todo) {
      const bytes = textBytes(item.contents);
      // Files handed to `files` are checked (and written here if it did not) before the commit.
      if (!files) writeOwn(item, bytes);
      const nar = narHashOfBytes(bytes);
      rows.push({
        path: item.path,
        narHash: narHashString(nar.hash),
        narSize: nar.size,
        registrationTime: now,
        ca: caString('text', 'flat', 'sha256', item.sha256Hex !== undefined ? Buffer.from(item.sha256Hex, 'hex') : sha256(bytes)),
        references: item.references,
        ...(item.derivationOutputs ? { derivationOutputs: item.derivationOutputs } : {}),
      });
    }
    // Data before rows: a committed row must never name a file that a power cut could lose.
    // Inside batch() the sync happens once, when the outermost batch commits; otherwise the
    // rows are inserted while the sync runs, and committed after it. With `files`, the rows
    // are inserted while its worker creates the last files and syncs them (told to at the top),
    // and committed after it is done.
    const settle = (): void => {
      if (files) {
        const { created, synced } = files.finish();
        for (const item of todo) {
          const dest = destOf(item);
          if (created.has(dest)) {
            if (!synced) this.unsynced.push(dest);
            continue;
          }
          // Not created by the worker (its name was taken, or it never started): as without it.
          writeOwn(item, textBytes(item.contents));
        }
      }
      // Under the write lock: a failed lowering elsewhere removed unregistered files since the
      // start, perhaps ones written here under names it had taken first. Write those again.
      if (this.db.removals() !== removals) for (const item of todo) if (!existsSync(destOf(item))) writeOwn(item, textBytes(item.contents));
    };
    if (this.batchDepth > 0) {
      this.db.register(rows);
      return settle();
    }
    // Without `files` every file is written by now: its sync starts before the inserts.
    const earlySync = files ? undefined : this.startSync();
    this.db.transaction(() => {
      this.db.register(rows);
      settle();
      (earlySync ?? this.startSync())();
    });
  }

  /** Creates `dest` (read-only, mtime 1) holding `bytes`; see writeTextItems for why this is safe. */
  private writeNewFile(dest: string, bytes: Uint8Array, label: string): void {
    let fd: number;
    let tmp: string | undefined;
    try {
      fd = openSync(dest, 'wx', 0o444);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      tmp = this.tempName(label);
      fd = openSync(tmp, 'wx', 0o444);
    }
    try {
      // write(2) may write part of the bytes (a disk filling up): go on until all are written,
      // or the next write fails with the reason.
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      if (UMASK_HIDES_READ) fchmodSync(fd, 0o444);
      futimesSync(fd, CANONICAL_TIME, CANONICAL_TIME);
    } catch (e) {
      // Leave no short file behind (a crash still can; the next add replaces it).
      closeSync(fd);
      rmSync(tmp ?? dest, { force: true });
      // A write's error names no file (it had a descriptor): name it, for the full-disk message.
      const err = e as NodeJS.ErrnoException;
      if (err && typeof err === 'object' && err.path === undefined) err.path = dest;
      throw e;
    }
    closeSync(fd);
    if (tmp !== undefined) renameSync(tmp, dest);
  }

  addTextToStore(name: string, text: string | Uint8Array, references: readonly string[]): string {
    this.requireWritable('adding a file to it');
    checkRequestTypes({ name, text }, { name: fieldChecks.text, text: [(v) => typeof v === 'string' || v instanceof Uint8Array, 'a string or a Uint8Array'] }, 'addTextToStore()');
    checkStringList(references, 'addTextToStore()', 'store paths as its references');
    const path = makeTextPath(name, text, references, this.storeDir);
    if (name.endsWith('.drv')) {
      // As Nix: a `.drv` in the store is a derivation whose outputs are recorded, never other text.
      const drvText = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
      let drv: Derivation;
      try {
        drv = parseDerivation(drvText);
      } catch (e) {
        throw new TsdslError(`addTextToStore(): \`${name}\` is named as a derivation but is not one (${(e as Error).message}); give the text another name, or a derivation to writeDerivation()`);
      }
      const f = verifyDerivation(drv, name.slice(0, -'.drv'.length), this.hasher);
      if (f.drvPath !== path) {
        throw new TsdslError(`addTextToStore(): \`${name}\` is a derivation, but not as tsdsl prints it with these references (that would be ${f.drvPath}); store it with writeDerivation()`);
      }
      this.writeDerivations([f]);
      return path;
    }
    this.writeTextItems([{ path, contents: text, references: [...new Set(references)].sort() }]);
    return path;
  }

  writeDerivation(drv: Derivation, name: string): string {
    this.requireWritable('writing a derivation to it');
    // Check the output paths as Nix does on registration, so no wrong .drv gets in.
    const f = verifyDerivation(drv, name, this.hasher);
    this.writeDerivations([f]);
    return f.drvPath;
  }

  /**
   * Writes many finalized derivations (in any order; inputs may be among them or already
   * stored) with one file-system sync and one transaction: the fast path for lowering a
   * whole graph. The items must come from `finalizeDerivation` for this store dir.
   */
  writeDerivations(items: readonly FinalizedDerivation[], files?: DerivationFiles): string[] {
    this.requireWritable('writing derivations to it');
    const textItems: TextItem[] = items.map((f) => {
      if (!f.drvPath.startsWith(this.storeDir + '/') || f.drvPath.includes('/', this.storeDir.length + 1)) {
        throw new TsdslError(`derivation ${f.drvPath} was finalized for another store dir than ${this.storeDir}; finalize it with a DerivationHasher for ${this.storeDir}`);
      }
      this.hasher.record(f.drvPath, f.hashModuloHex ?? f.hashModulo);
      const outputs: Record<string, string> = {};
      if (f.outputNames && f.outputPaths) for (let i = 0; i < f.outputNames.length; i++) outputs[f.outputNames[i]!] = f.outputPaths[i]!;
      else for (const o of Object.keys(f.drv.outputs)) outputs[o] = f.drv.outputs[o]!.path;
      return { path: f.drvPath, contents: f.bytes ?? f.text, sha256Hex: f.textSha256Hex, references: f.references ?? derivationReferences(f.drv), derivationOutputs: outputs };
    });
    this.writeTextItems(textItems, files);
    return items.map((f) => f.drvPath);
  }

  derivationFiles(): DerivationFiles {
    this.requireWritable('writing derivations to it');
    return new DerivationFiles(this.storeRoot, this.storeDir, this.durable, undefined, (dests) => this.removeUnregistered(dests), this.db.removals());
  }

  /**
   * Deletes the files `dests` (physical; a failed lowering's `.drv` files) that are not
   * registered, holding the write lock, and counts the removal. Another process may have taken
   * one of those names meanwhile (writeTextItems replaces a taken name): if it committed first,
   * its row keeps the file here; if not, it sees the count change before its commit and writes
   * again what is gone.
   */
  removeUnregistered(dests: readonly string[]): void {
    this.requireWritable('removing files from it');
    // A few seconds at most: when a long write holds the lock, the files stay, as a killed
    // process leaves them (the next add of a path replaces its file, the collector the rest).
    this.db.tryExclusive(() => {
      this.db.countRemoval();
      const paths = dests.map((d) => this.storeDir + d.slice(this.storeRoot.length));
      const valid = this.db.validAmong(paths);
      for (let i = 0; i < dests.length; i++) if (!valid.has(paths[i]!)) rmSync(dests[i]!, { force: true });
    }, 3000);
  }

  readDerivation(drvPath: string): Derivation {
    this.requireValid(drvPath, 'derivation');
    let text: string;
    try {
      text = readFileSync(this.physicalPath(drvPath), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      throw new TsdslError(`derivation ${drvPath} is registered but missing from disk (${this.physicalPath(drvPath)}); run \`tsdsl verify --repair\` to forget it and what refers to it, then write it again (\`tsdsl build -d\`)`);
    }
    try {
      return parseDerivation(text);
    } catch (e) {
      throw new TsdslError(`${drvPath}: ${(e as Error).message}`);
    }
  }

  async lockPaths(paths: readonly string[], options: AcquireOptions = {}): Promise<PathLock> {
    this.requireOpen();
    this.requireWritable('locking store paths');
    checkStringList(paths, 'lockPaths()', 'store paths');
    // A fixed order stops two processes locking the same set from deadlocking.
    const keys = [...new Set(paths.map((p) => parseStorePath(p, this.storeDir).hash))].sort();
    const taken: string[] = [];
    try {
      for (const key of keys) {
        await this.locks.acquire(key, options);
        taken.push(key);
      }
    } catch (e) {
      for (const key of taken) this.locks.release(key);
      throw e;
    }
    let released = false;
    return {
      paths: [...paths],
      release: () => {
        if (released) return;
        released = true;
        for (const key of taken) this.locks.release(key);
      },
    };
  }

  async addToStoreFromPath(name: string, srcPath: string, options: AddPathOptions = {}): Promise<string> {
    this.requireWritable('adding to it');
    const who = 'addToStoreFromPath()';
    checkRequestTypes({ name, srcPath }, { name: fieldChecks.text, srcPath: fieldChecks.text }, who);
    checkRequestKeys(options, ADD_PATH_KEYS, who);
    checkRequestTypes(options, ADD_PATH_CHECKS, who);
    const method = options.method ?? 'recursive';
    const references = [...new Set(options.references ?? [])].sort();
    if (method === 'flat' && references.length > 0) {
      throw new TsdslError(`flat item \`${name}\` cannot have references; add it with method 'recursive'`);
    }
    for (const ref of references) this.requireValid(ref, 'reference');
    let st;
    try {
      st = method === 'flat' ? statSync(srcPath) : lstatSync(srcPath);
    } catch (e) {
      throw new TsdslError(`cannot add \`${srcPath}\` to the store: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (e as Error).message}`);
    }
    if (method === 'flat' && !st.isFile()) {
      throw new TsdslError(`cannot add \`${srcPath}\` flat: it is not a regular file; use method 'recursive' for directories and symlinks`);
    }
    if (st.isDirectory()) this.refuseHoldingStore(srcPath);
    const tmp = this.tempName(name);
    try {
      if (method === 'flat') {
        // The file's bytes, as Nix stores a flat item: a symlink's target, never executable.
        copyFileSync(srcPath, tmp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
        chmodSync(tmp, 0o444);
        lutimesSync(tmp, CANONICAL_TIME, CANONICAL_TIME);
      } else copyTree(Buffer.from(srcPath), Buffer.from(tmp), true);
      const nar = await narHash(tmp);
      const digest = method === 'flat' ? fileHash('sha256', tmp) : nar.hash;
      const path = makeFixedOutputPath(name, { method, algo: 'sha256', digest }, this.storeDir, references);
      await this.moveIntoStore([
        {
          path,
          staged: tmp,
          info: { path, narHash: narHashString(nar.hash), narSize: nar.size, registrationTime: this.now(), ca: caString('fixed', method, 'sha256', digest), references },
        },
      ]);
      return path;
    } finally {
      deleteTree(tmp);
    }
  }

  async registerPath(storePath: string, tempPath: string, options: RegisterOptions = {}): Promise<PathInfo> {
    return (await this.registerPaths([{ path: storePath, tempPath, options }]))[0]!;
  }

  /**
   * Registers a build's outputs together: each may refer to the others (a `doc` output naming
   * `out`), and either all become valid, in one transaction, or none does. References that go
   * both ways between them are refused, as Nix refuses them: closures must stay acyclic.
   */
  async registerPaths(items: ReadonlyArray<{ path: string; tempPath: string; options?: RegisterOptions }>): Promise<PathInfo[]> {
    this.requireWritable('registering items in it');
    for (const item of items) {
      checkRequestTypes(item, { path: fieldChecks.text, tempPath: fieldChecks.text }, 'registerPaths()');
      const options = item.options ?? {};
      checkRequestKeys(options, REGISTER_KEYS, 'registerPath()');
      checkRequestTypes(options, REGISTER_CHECKS, 'registerPath()');
      if (options.deriver !== undefined) {
        if (!options.deriver.endsWith('.drv')) throw new TsdslError(`registerPath(): \`deriver\` must be the .drv path that produced ${item.path}, not \`${options.deriver}\``);
        parseStorePath(options.deriver, this.storeDir);
      }
    }
    const together = new Set(items.map((i) => i.path));
    const prepared: Array<{ path: string; staged: string; info: NewPathInfo }> = [];
    const lock = items.find((i) => i.options?.lock)?.options?.lock;
    try {
      for (const item of items) {
        const p = await this.prepareItem(item.path, item.tempPath, item.options ?? {}, together);
        if (p) prepared.push(p);
      }
      refuseCycles(prepared.map((p) => p.info), together);
      await this.moveIntoStore(prepared, lock);
    } finally {
      for (const p of prepared) if (occupied(p.staged)) deleteTree(p.staged);
    }
    return items.map((i) => this.db.queryPathInfo(i.path)!);
  }

  /**
   * Canonicalises a build result, scans its references and checks a fixed output's hash: what
   * registering it needs. Undefined when the path is valid already (the result is deleted).
   * References must be valid, or among `together` (registered in the same transaction).
   */
  private async prepareItem(
    storePath: string,
    tempPath: string,
    options: RegisterOptions,
    together: ReadonlySet<string>,
  ): Promise<{ path: string; staged: string; info: NewPathInfo } | undefined> {
    parseStorePath(storePath, this.storeDir);
    this.addTempRoots([storePath]);
    if (this.db.queryPathInfo(storePath)) {
      deleteTree(tempPath);
      return undefined;
    }
    let st;
    try {
      st = lstatSync(tempPath);
    } catch {
      throw new TsdslError(`cannot register ${storePath}: its build result \`${tempPath}\` does not exist; did the builder write its output?`);
    }
    // Renaming needs the same file system; move foreign trees into our temp dir first.
    let staged = tempPath;
    if (lstatSync(this.tmpRoot).dev !== st.dev) {
      staged = this.tempName(basename(storePath).slice(33));
      copyTree(Buffer.from(tempPath), Buffer.from(staged), true);
      deleteTree(tempPath);
    } else {
      canonicalise(Buffer.from(tempPath), true);
    }

    const candidates = options.referenceCandidates ?? [];
    const scanner = candidates.length > 0 ? new ReferenceScanner(candidates.map((p) => parseStorePath(p).hash)) : undefined;
    const nar = await narHash(staged, scanner ? { scanner } : {});
    let references: string[];
    if (options.references) {
      references = [...new Set(options.references)].sort();
    } else if (scanner) {
      const found = scanner.found();
      references = [...new Set(candidates.filter((p) => found.has(parseStorePath(p).hash)))].sort();
    } else {
      references = [];
    }
    for (const ref of references) if (!together.has(ref)) this.requireValid(ref, `reference of ${storePath}`);

    let ca: string | undefined;
    if (options.fixed) {
      const { method, algo, digest } = options.fixed;
      let actual: Buffer;
      if (method === 'flat') {
        if (!lstatSync(staged).isFile()) {
          throw new TsdslError(`fixed output ${storePath} should be a regular file (flat hash), but the build produced a directory or symlink`);
        }
        actual = fileHash(algo, staged);
      } else {
        actual = algo === 'sha256' ? nar.hash : (await narHashWith(staged, algo)).hash;
      }
      if (!actual.equals(Buffer.from(digest))) {
        throw new TsdslError(
          `hash mismatch in fixed output ${storePath}: expected ${formatHash({ algo, digest: Buffer.from(digest) }, 'sri')}, got ${formatHash({ algo, digest: actual }, 'sri')}; fix the declared hash if the new content is right`,
        );
      }
      const expectedPath = makeFixedOutputPath(outputNameOf(storePath), options.fixed, this.storeDir, references.filter((r) => r !== storePath));
      if (expectedPath !== storePath) {
        throw new TsdslError(`fixed output content gives ${expectedPath}, not ${storePath}; the derivation's output path is wrong`);
      }
      ca = caString('fixed', method, algo, actual);
    }
    const info: NewPathInfo = {
      path: storePath,
      narHash: narHashString(nar.hash),
      narSize: nar.size,
      registrationTime: this.now(),
      deriver: options.deriver,
      ca,
      references,
    };
    return { path: storePath, staged, info };
  }

  /**
   * Under the paths' locks: replace any stale unregistered copy, rename each into place, sync,
   * and commit them all in one transaction (those another process added meanwhile are skipped).
   */
  private async moveIntoStore(items: ReadonlyArray<{ path: string; staged: string; info: NewPathInfo }>, held?: PathLock): Promise<void> {
    if (items.length === 0) return;
    this.addTempRoots(items.map((i) => i.path));
    const own = items
      .map((i) => ({ path: i.path, key: parseStorePath(i.path, this.storeDir).hash }))
      .filter(({ path, key }) => !(held && held.paths.includes(path) && this.locks.holds(key)))
      .map(({ key }) => key)
      .sort();
    const taken: string[] = [];
    try {
      for (const key of own) (await this.locks.acquire(key), taken.push(key));
      // Data before names and rows: the staged trees' files (a build's outputs, never synced
      // by whoever wrote them) reach the disk before they are renamed into the store and
      // registered, so a power cut cannot leave a valid row over an empty file. One syncfs of
      // the store's file system, where the trees are staged (an fsync per file costs far more).
      if (this.durable) syncFileSystem(this.storeRoot);
      const infos: NewPathInfo[] = [];
      for (const { path, staged, info } of items) {
        if (this.db.isValid(path)) continue; // another process added it while we copied
        const dest = this.physicalPath(path);
        if (occupied(dest)) deleteTree(dest);
        renameSync(staged, dest);
        const st = lstatSync(dest);
        if (st.isDirectory()) chmodSync(dest, 0o555);
        lutimesSync(dest, CANONICAL_TIME, CANONICAL_TIME);
        infos.push(info);
      }
      if (infos.length === 0) return;
      if (this.durable) fsyncPath(this.storeRoot);
      this.db.register(infos);
    } finally {
      for (const key of taken) this.locks.release(key);
    }
  }

  /**
   * Makes `storePath` a GC root called `name`. An absolute file name makes an indirect root,
   * which keeps whatever store item that symlink leads to, for as long as it leads to one (create
   * the link as well).
   */
  addRoot(storePath: string, name: string = typeof storePath === 'string' ? basename(storePath) : ''): string {
    checkRequestTypes({ storePath, name }, { storePath: fieldChecks.text, name: [(v) => typeof v === 'string', 'a string'] }, 'addRoot()');
    if (name.includes('/') && !name.startsWith('/')) {
      throw new TsdslError(`addRoot(): root name \`${name}\` is neither a plain name (no \`/\`) nor an absolute file name (an indirect root); give one or the other`);
    }
    if (name === '') throw new TsdslError('GC root name is empty; give the root a name');
    this.requireWritable('adding a GC root');
    // Checked under the write lock, so a collector cannot delete the item in between.
    this.db.exclusive(() => {
      this.requireValid(storePath, 'GC root target');
      this.db.addRoot(name, storePath);
    });
    return name;
  }

  removeRoot(name: string): boolean {
    this.requireWritable('removing a GC root');
    return this.db.removeRoot(name);
  }

  /**
   * Every root, sorted by name. An indirect root holds the item its symlink leads to now, as Nix's
   * do: `path` is that item (the one recorded, when the link was not changed), and `live` says
   * whether the link still leads to a valid item. The link is followed through every symlink on
   * the way (a `TSDSL_ROOT` or home directory reached through one, as on many clusters).
   */
  listRoots(): GcRoot[] {
    return this.db.roots().map((r): GcRoot => {
      if (!isIndirectRootName(r.name)) return r;
      const target = this.linkTarget(r.name);
      return { name: r.name, path: target ?? r.path, indirect: true, live: target !== undefined && this.isValid(target) };
    });
  }

  /** The store item (logical path) the symlink `file` leads to, or undefined when it leads nowhere in this store. */
  private linkTarget(file: string): string | undefined {
    let target: string;
    try {
      if (!lstatSync(file).isSymbolicLink()) return undefined;
      target = readlinkSync(file);
    } catch {
      return undefined;
    }
    const itemOf = (path: string, dir: string) => (path.startsWith(`${dir}/`) ? `${this.storeDir}/${path.slice(dir.length + 1).split('/')[0]}` : undefined);
    // A link to the logical path (which need not exist on this host), or through the physical one.
    const logical = itemOf(resolve(dirname(file), target), this.storeDir);
    if (logical) return logical;
    try {
      return itemOf(realpathSync(file), (this.realStoreRoot ??= realpathSync(this.storeRoot)));
    } catch {
      return undefined;
    }
  }

  private realStoreRoot: string | undefined;

  /** Forgets the indirect roots whose symlink is gone or points elsewhere; returns their names. */
  removeDeadIndirectRoots(): string[] {
    this.requireWritable('removing dead roots');
    return this.db.exclusive(() => {
      const dead = this.listRoots().filter((r) => r.indirect && !r.live);
      for (const r of dead) this.db.removeRoot(r.name);
      return dead.map((r) => r.name);
    });
  }

  addTempRoots(paths: Iterable<string>): void {
    this.requireWritable('adding temporary roots');
    if (typeof paths === 'string' || typeof (paths as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== 'function') {
      throw new TsdslError(`addTempRoots() takes a list (or set) of store paths, not ${typeof paths === 'string' ? `a string: wrap it, ['${paths}']` : shown(paths)}`);
    }
    const fresh: string[] = [];
    for (const p of paths) if (!this.tempRooted.has(p)) fresh.push(p);
    if (fresh.length === 0) return;
    this.db.exclusive(() => this.db.addTempRoots(this.tempRootOwner, fresh));
    this.hasTempRoots = true;
    // Inside a batch the rows may still be rolled back, so they are not memoised.
    if (!this.db.db.inTransaction) for (const p of fresh) this.tempRooted.add(p);
  }

  /**
   * The temporary roots of running processes, sorted. Those of this store instance are left
   * out unless `includeOwn`: a process that collects garbage holds real roots for what it needs.
   */
  tempRoots(options: { includeOwn?: boolean } = {}): string[] {
    const paths = new Set<string>();
    const alive = new Map<string, boolean>();
    for (const { owner, path } of this.db.tempRoots()) {
      if (owner === this.tempRootOwner && !options.includeOwn) continue;
      let live = alive.get(owner);
      if (live === undefined) alive.set(owner, (live = ownerAlive(owner)));
      if (live) paths.add(path);
    }
    return [...paths].sort();
  }

  /**
   * Forgets the temporary roots of processes that died without closing the store; returns how
   * many. With `waitMs`, gives up (0) when another process holds the write lock longer.
   */
  purgeStaleTempRoots(options: { waitMs?: number } = {}): number {
    this.requireWritable('purging stale temporary roots');
    // Looked at first without a write transaction: at every open, most often there is none.
    const dead = this.db.tempRootOwners().filter((o) => !ownerAlive(o));
    if (dead.length === 0) return 0;
    const purge = (): number => {
      let removed = 0;
      for (const owner of dead) removed += this.db.removeTempRoots(owner);
      return removed;
    };
    return options.waitMs === undefined ? this.db.exclusive(purge) : (this.db.tryExclusive(purge, options.waitMs) ?? 0);
  }

  /**
   * Store paths whose per-path lock (`lock.ts`) is held by a live process: the valid paths
   * and known derivation outputs with that hash part. A held lock means an item is being
   * added or built right now.
   */
  lockedPaths(): string[] {
    const paths = new Set<string>();
    for (const key of this.busyLockKeys()) for (const p of this.db.pathsWithHash(this.storeDir, key)) paths.add(p);
    return [...paths].sort();
  }

  /** Hash parts whose lock file is held by a live process (this one included). */
  private busyLockKeys(): Set<string> {
    const keys = new Set<string>();
    let names: string[];
    try {
      names = readdirSync(this.locks.dir);
    } catch {
      return keys;
    }
    for (const name of names) {
      const m = /^([0-9a-z]{32})\.lock$/.exec(name);
      if (!m) continue;
      let owner: string;
      try {
        owner = readFileSync(join(this.locks.dir, name), 'utf8');
      } catch {
        continue; // released meanwhile
      }
      if (ownerAlive(owner)) keys.add(m[1]!);
    }
    return keys;
  }

  /** Every valid path, sorted. */
  allValidPaths(): string[] {
    return this.db.allValidPaths();
  }

  /** Every reference between valid paths, as [referrer, reference]. */
  queryAllReferences(): Array<[referrer: string, reference: string]> {
    return this.db.allReferences();
  }

  /** Reference rows naming a path that is not valid; a sound store has none. */
  danglingReferences(): Array<{ referrer: string | undefined; reference: string | undefined }> {
    return this.db.danglingReferences();
  }

  /**
   * Removes `paths` from the valid set in one transaction, leaving their files alone;
   * refuses (changing nothing) when a remaining valid path refers to one of them.
   */
  invalidatePaths(paths: readonly string[]): void {
    this.requireWritable('invalidating paths');
    this.db.exclusive(() => this.db.invalidatePaths(paths));
  }

  /**
   * Deletes valid items: their rows and their files. Skipped, without error: paths that are
   * not valid, locked (being added or built), in `options.keep`, or still referred to by a
   * valid path that is not deleted too (so list referrers with, or before, what they refer to).
   * Under the database write lock each item is renamed into `.tmp/` and the rows go, in one
   * transaction (made durable before any file is deleted); then the renamed trees are removed.
   * Writers decide from the database alone whether an item is there, so none can see a row
   * whose files are gone, nor put files in place that this then moves away.
   */
  deletePaths(paths: readonly string[], options: DeleteOptions = {}): DeleteResult {
    this.requireWritable('deleting items');
    if (this.db.db.inTransaction) throw new TsdslError('store.deletePaths() cannot run inside a batch or transaction; call it on its own');
    const candidates = [...new Set(paths)];
    for (const p of candidates) parseStorePath(p, this.storeDir);
    const moved: Array<{ dest: string; trash: string; dir: boolean }> = [];
    let deleted: string[] = [];
    const run = (): void => {
      const keep = options.keep?.() ?? new Set<string>();
      // A lock taken before this transaction means someone is adding or building the path;
      // one taken after it finds the path valid (until the commit) and leaves it alone.
      const busy = this.busyLockKeys();
      const set = new Set(candidates.filter((p) => this.db.isValid(p) && !keep.has(p) && !busy.has(parseStorePath(p).hash)));
      for (let changed = true; changed; ) {
        changed = false;
        for (const p of set) {
          if (this.db.referrers(p)!.some((r) => r !== p && !set.has(r))) {
            set.delete(p);
            changed = true;
          }
        }
      }
      deleted = candidates.filter((p) => set.has(p));
      for (const p of deleted) {
        const dest = this.physicalPath(p);
        let st;
        try {
          st = lstatSync(dest);
        } catch {
          continue; // the files are already gone: only the row remains to remove
        }
        const trash = join(this.tmpRoot, `${this.owner}-${++this.tmpCounter}~${basename(p)}`);
        // Moving a directory to another parent needs write permission on the directory itself.
        try {
          if (st.isDirectory()) chmodSync(dest, 0o755);
          renameSync(dest, trash);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EPERM' && code !== 'EACCES') throw e;
          // Nothing of this batch is deleted (the transaction rolls back, moved items come back).
          throw new TsdslError(`cannot delete ${p}: its files at ${dest} are not yours (${code}), so nothing was collected; give them back to the store's owner (chown -R) or remove them as their owner`);
        }
        moved.push({ dest, trash, dir: st.isDirectory() });
      }
      this.db.invalidatePaths(deleted);
    };
    try {
      this.durably(() => this.db.exclusive(run));
    } catch (e) {
      for (const m of moved.reverse()) {
        try {
          renameSync(m.trash, m.dest);
          if (m.dir) chmodSync(m.dest, 0o555);
        } catch {
          // Left in .tmp/: the next open puts it back, since its row is still valid.
        }
      }
      throw e;
    }
    let freedBytes = 0;
    for (const m of moved) freedBytes += deleteTree(m.trash);
    return { deleted, freedBytes };
  }

  /** Runs `fn` with every commit synced to disk (WAL mode otherwise defers that to checkpoints). */
  private durably<T>(fn: () => T): T {
    if (!this.durable) return fn();
    this.db.db.pragma('synchronous = FULL');
    try {
      return fn();
    } finally {
      this.db.db.pragma('synchronous = NORMAL');
    }
  }

  /**
   * Entries of the store directory that are not valid paths and have not changed for
   * `minAgeSeconds` (default an hour): what a writer that died between moving an item in
   * place and committing its row left. Younger ones may be a writer's work in progress.
   */
  leftovers(minAgeSeconds = 3600): string[] {
    const cutoff = Date.now() - minAgeSeconds * 1000;
    const found: string[] = [];
    for (const name of readdirSync(this.storeRoot)) {
      if (name.startsWith('.')) continue;
      const path = `${this.storeDir}/${name}`;
      if (!isStorePath(path, this.storeDir) || this.db.isValid(path)) continue;
      try {
        // Whole milliseconds, as Date.now() counts them: a file changed within the current
        // millisecond is as old as the cutoff, not younger.
        if (Math.floor(lstatSync(join(this.storeRoot, name)).ctimeMs) > cutoff) continue;
      } catch {
        continue;
      }
      found.push(path);
    }
    return found.sort();
  }

  /** Deletes the `leftovers(minAgeSeconds)` whose lock is free; returns what went and the bytes freed. */
  deleteLeftovers(minAgeSeconds = 3600): DeleteResult {
    this.requireWritable('deleting leftovers');
    const deleted: string[] = [];
    let freedBytes = 0;
    for (const path of this.leftovers(minAgeSeconds)) {
      const key = parseStorePath(path, this.storeDir).hash;
      if (this.locks.holds(key) || this.locks.tryAcquire(key) !== true) continue;
      try {
        const trash = this.db.exclusive(() => {
          const dest = this.physicalPath(path);
          if (this.db.isValid(path) || !occupied(dest)) return undefined;
          const t = join(this.tmpRoot, `${this.owner}-${++this.tmpCounter}-leftover`);
          if (lstatSync(dest).isDirectory()) chmodSync(dest, 0o755);
          renameSync(dest, t);
          return t;
        });
        if (trash) {
          freedBytes += deleteTree(trash);
          deleted.push(path);
        }
      } finally {
        this.locks.release(key);
      }
    }
    return { deleted, freedBytes };
  }
}

/** The name part of an output path, which is the name a fixed output's path is made from. */
function outputNameOf(storePath: string): string {
  return basename(storePath).slice(33);
}
