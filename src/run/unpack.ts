/**
 * The per-user cache of unpacked packs for `tsdsl run`: a pack is unpacked once into
 * `~/.cache/tsdsl/packs/<sha256 of the file>`, so reruns start at once, and `tsdsl gc --packs`
 * reclaims entries nobody used for a while.
 *
 * What can be unpacked: a tarball pack (members listed and checked before anything is written:
 * an absolute name, a `..` component, or a hard link leaving the archive is refused, so nothing
 * lands outside the cache), a docker-archive (`tsdsl pack -f docker`: layers flattened, with
 * `ch-convert` when installed) and a squashfs image (`tsdsl pack -f squashfs`, with
 * `unsquashfs`). Unpacking goes to a temporary directory renamed into place, so an interrupted
 * unpack is never mistaken for one; the entry is read-only from then on (`makeReadOnly`).
 *
 * Concurrency: each entry has a lock file (`.locks/<hash>.lock`, the store's lock protocol) held
 * only for short sections — a run takes it to unpack (if needed) and to register itself as a user
 * (`.users/<hash>/<pid>-<start time>`), then releases it and runs; `gc` takes it (without waiting),
 * skips an entry that has a live user, and otherwise moves it out of the way before deleting it.
 * A run that starts after that simply unpacks again. The entry's `.tsdsl-unpacked` marker's mtime
 * is its last use.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { TsdslError, causeOf, checkRequestKeys, checkRequestTypes, fieldChecks, isTsdslError, type FieldCheck } from '../errors.js';
import { holdSignals, signalExitCode } from '../signals.js';
import { LockDirectory, OWNED_AT, leftoverOwnerDead, ownerAlive, ownerToken, ownerWhere, removeLeftoversOfDead } from '../store/lock.js';
import { loadDriver } from '../store/db.js';
import { fileSha256 } from '../store/nar.js';
import { deleteTree, directorySetting, makeCacheDirectories } from '../store/tree.js';
import { currentHost, imageMagic, isDockerArchive, probe, safeReaddir, which, type Host } from './engines.js';
import { unpackDockerArchive } from './charliecloud.js';

/** An unpacking or a deletion in the cache: `.tmp-HASH-PID-AT`, `.trash-HASH-PID-AT` (older ones without AT). */
const LEFTOVER_TMP = new RegExp(`^\\.(?:tmp|trash)-[0-9a-f]{64}-(\\d+)(?:-${OWNED_AT})?$`);
/** A docker-archive's unpacking (makeOwnedTempDir). */
const LEFTOVER_UNPACK = new RegExp(`^\\.tsdsl-unpack-(\\d+)-${OWNED_AT}-[A-Za-z0-9]{6}$`);

/** The per-user cache of unpacked packs (TSDSL_PACK_CACHE, else $XDG_CACHE_HOME/tsdsl/packs). */
export function packCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const set = directorySetting(env, 'TSDSL_PACK_CACHE');
  if (set) return set;
  const base = env['XDG_CACHE_HOME'] && env['XDG_CACHE_HOME'].startsWith('/') ? env['XDG_CACHE_HOME'] : join(env['HOME'] || homedir(), '.cache');
  return join(base, 'tsdsl', 'packs');
}

function bad(name: string): boolean {
  const n = name.replace(/^\.\//, '');
  return n.startsWith('/') || n.split('/').includes('..');
}

// ---------------------------------------------------------------------------------------------
// What a pack file is

/** The kinds of pack `tsdsl run` takes. */
export type PackKind = 'directory' | 'tarball' | 'docker' | 'squashfs' | 'sif';

/** Engines that take an image file as it is, by kind (the others run the pack unpacked). */
export const NATIVE_IMAGES: Readonly<Record<string, readonly PackKind[]>> = {
  podman: ['docker'],
  docker: ['docker'],
  apptainer: ['squashfs', 'sif'],
  singularity: ['squashfs', 'sif'],
};

const KIND_NAMES: Readonly<Record<PackKind, string>> = {
  directory: 'an unpacked pack (a directory)',
  tarball: 'a tarball pack',
  docker: 'a docker-archive',
  squashfs: 'a squashfs image',
  sif: 'a SIF image',
};

/**
 * How the engines would take `file` (`tsdsl run --explain PACK`): what it is, which engines run
 * it as it is, and that the others run a copy unpacked once into the pack cache. A file that is
 * no pack is the error running it would give.
 */
export function explainPack(file: string, engines: readonly string[], host: Host = currentHost()): string {
  const kind = packKind(file, host);
  // What is not an image is taken for a tarball pack: check that it is one, as unpacking would
  // (when tar is at hand: the diagnosis of a host without it goes on).
  if (kind === 'tarball' && which(host, 'tar')) checkTarballPack(file);
  const native = kind === 'directory' ? engines : engines.filter((e) => NATIVE_IMAGES[e]?.includes(kind));
  const others = engines.filter((e) => !native.includes(e));
  // Who, and whether the verb is plural: all of several engines, the rest, or their names.
  const subject = (names: readonly string[], rest: boolean): [string, boolean] =>
    names.length > 1 && names.length === engines.length ? ['every engine', false] : rest ? ['the other engines', true] : [names.join(', ').replace(/, ([^,]*)$/, ' and $1'), names.length > 1];
  const said: string[] = [];
  if (native.length) {
    const [who, plural] = subject(native, false);
    said.push(`${who} ${plural ? 'run' : 'runs'} it as it is`);
  }
  if (others.length) {
    const [who, plural] = subject(others, native.length > 0);
    // Only Apptainer/Singularity open a SIF image: the others cannot unpack it either.
    said.push(kind === 'sif' ? `${who} cannot run it (make a squashfs or tarball pack for them)` : `${who} ${plural ? 'run' : 'runs'} it unpacked once into the pack cache (\`tsdsl gc --packs\` removes such copies)`);
  }
  return `${file} is ${KIND_NAMES[kind]}: ${said.join('; ')}.`;
}

/**
 * What `file` holds, from its contents (never its name): a directory (an unpacked pack), a
 * squashfs image (magic `hsqs`), a SIF image, a docker-archive (a tar with `manifest.json` at its
 * top), or else a tarball pack (checked when unpacked).
 */
export function packKind(file: string, host: Host = currentHost()): PackKind {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new TsdslError(`pack \`${file}\` does not exist; make one with \`tsdsl pack\``);
  }
  if (st.isDirectory()) return 'directory';
  const magic = imageMagic(file);
  if (magic) return magic;
  return isDockerArchive(host, file) ? 'docker' : 'tarball';
}

// ---------------------------------------------------------------------------------------------
// Unpacking

/** Unpacks a tarball pack into `tmp` (which exists and is empty), refusing members that escape it. */
function unpackTarball(file: string, tmp: string): void {
  checkTarballPack(file);
  try {
    execFileSync('tar', ['-xf', file, '-C', tmp, '--no-same-owner', '--no-same-permissions', '--delay-directory-restore'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new TsdslError(`unpacking \`${file}\` failed: ${causeOf(stderr, (e as Error).message)}`);
  }
}

/**
 * Throws unless `file` is a tarball pack that can be unpacked safely: a readable tar archive
 * holding a store directory, whose names and hard-link targets all stay inside it.
 */
function checkTarballPack(file: string): void {
  // List first: names and hard-link targets must stay inside the archive.
  const list = spawnSync('tar', ['-tvf', file, '--quoting-style=escape'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (list.status !== 0) {
    throw new TsdslError(`\`${file}\` is not a readable tar archive (${causeOf(list.stderr, 'tar failed')}); is it truncated, or not a tarball pack?`);
  }
  const names = spawnSync('tar', ['-tf', file], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout.split('\n').filter(Boolean);
  const offending = names.filter(bad);
  for (const line of list.stdout.split('\n')) {
    const m = / link to (.*)$/.exec(line);
    if (line.startsWith('h') && m && bad(m[1]!)) offending.push(`${line} (hard link)`);
  }
  if (offending.length) {
    throw new TsdslError(`\`${file}\` has members that would be written outside the unpacked pack (${offending.slice(0, 3).join(', ')}); refusing to unpack it`);
  }
  if (!names.some((n) => /^(\.\/)?[^/]+\/store\//.test(n))) {
    if (names.includes('oci-layout') || names.includes('./oci-layout')) {
      throw new TsdslError(`\`${file}\` is an OCI image (pack -f oci), which tsdsl run does not run; run it with podman or umoci, or make the pack with -f docker, -f squashfs or the default tarball`);
    }
    throw new TsdslError(`\`${file}\` is not a tsdsl pack: it holds no store directory (expected members like ./tsdsl/store/…)`);
  }
}

/**
 * Unpacks `file` of `kind` into the new directory `tmp` (which must not exist). A full disk is
 * said once, with the cache's place and the way out (tar alone says it for every file).
 */
function unpackInto(file: string, kind: PackKind, tmp: string, host: Host): void {
  try {
    unpackAs(file, kind, tmp, host);
  } catch (e) {
    const full = /No space left on device|Disk quota exceeded/i.exec(isTsdslError(e) ? e.message : String((e as Error).message));
    if (!full) throw e;
    const why = /quota/i.test(full[0]) ? 'your disk quota is used up' : 'the file system is full';
    throw new TsdslError(
      `cannot unpack ${file} into the pack cache ${dirname(tmp)}: ${why} (${full[0]}); free some space (\`tsdsl gc --packs\` removes the unpacked packs no run uses), or set TSDSL_PACK_CACHE to a directory on another file system`,
      { cause: e },
    );
  }
}

function unpackAs(file: string, kind: PackKind, tmp: string, host: Host): void {
  if (kind === 'tarball') {
    mkdirSync(tmp);
    unpackTarball(file, tmp);
  } else if (kind === 'docker') {
    unpackDockerArchive(host, file, tmp);
  } else if (kind === 'squashfs') {
    const unsquashfs = which(host, 'unsquashfs');
    if (!unsquashfs) throw new TsdslError(`cannot unpack the squashfs image ${file}: \`unsquashfs\` is not on PATH (PATH=${host.path}); install squashfs-tools, or run it with --engine=apptainer`);
    const u = probe([unsquashfs, '-no-xattrs', '-no-progress', '-d', tmp, file], { env: { PATH: host.path }, timeoutMs: 600_000 });
    if (!u.ok) throw new TsdslError(`cannot unpack the squashfs image ${file} with unsquashfs: ${causeOf(u.stderr || u.stdout, 'unsquashfs failed')}; is it truncated?`);
  } else {
    throw new TsdslError(`${file} is a SIF image, which only Apptainer/Singularity can open; run it with --engine=apptainer, or make a tarball or squashfs pack (\`tsdsl pack -f squashfs\`)`);
  }
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) {
    const p = join(tmp, d);
    if (!existsSync(p) && !isLink(p)) mkdirSync(p, { recursive: true });
  }
  writeFileSync(join(tmp, MARKER), '');
  makeReadOnly(tmp);
}

/**
 * Takes the write bits off every file and directory of an unpacked pack (symbolic links are not
 * followed), so that a command run in it cannot change what later runs get: PRoot runs the
 * command in the cache entry itself, and a file it wrote (a changed runscript, a new /etc file)
 * was seen by every later run of the pack, with any engine. As in a store, the owner could still
 * chmod the files back; nothing is written by accident. Entries unpacked by an older tsdsl are
 * made so at their next use (`acquireUnpacked`).
 */
function makeReadOnly(root: string): void {
  const walk = (p: string): void => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
    if (st.mode & 0o222) chmodSync(p, st.mode & 0o7555);
  };
  walk(root);
}

/** Whether an unpacked pack's root directory is still writable (unpacked by an older tsdsl). */
function writableRoot(root: string): boolean {
  try {
    return (lstatSync(root).mode & 0o222) !== 0;
  } catch {
    return false;
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

const MARKER = '.tsdsl-unpacked';
const HASH = /^[0-9a-f]{64}$/;

/** The cache's locks: one file per entry; stale locks (dead owners) are broken under a SQLite lock. */
function cacheLocks(cacheDir: string): LockDirectory {
  const dir = join(cacheDir, '.locks');
  mkdirSync(dir, { recursive: true });
  return new LockDirectory(dir, <T>(fn: () => T): T => {
    // Only reached to break the lock of a process that died holding it.
    const Database = loadDriver();
    const db = new Database(join(dir, 'break.sqlite'));
    try {
      db.pragma('busy_timeout = 60000');
      return db.transaction(fn).immediate();
    } finally {
      db.close();
    }
  });
}

function usersDir(cacheDir: string, hash: string): string {
  return join(cacheDir, '.users', hash);
}

/** Live users of an entry (their owner tokens); files of dead users are removed. */
function liveUsers(cacheDir: string, hash: string): string[] {
  const dir = usersDir(cacheDir, hash);
  const live: string[] = [];
  for (const name of safeReaddir(dir)) {
    const p = join(dir, name);
    let token: string;
    try {
      token = readFileSync(p, 'utf8').trim();
    } catch {
      continue;
    }
    // One line per process: the tsdsl that runs the pack, then the command it started (which
    // goes on running if that tsdsl is killed). In use while any of them runs.
    const alive = token.split('\n').find((t) => t.trim() !== '' && ownerAlive(t));
    if (alive !== undefined) live.push(alive.trim());
    else rmSync(p, { force: true });
  }
  return live;
}

/** An unpacked pack in use: `release()` when the run is over. */
export interface UnpackedPack {
  readonly root: string;
  readonly hash: string;
  readonly kind: PackKind;
  /** Registers a process started from the pack (the command) as a user too, until `release()`. */
  addProcess(pid: number): void;
  release(): void;
}

/**
 * Unpacks `file` into the cache unless it is there already, and registers this process as a user
 * of the entry so `tsdsl gc --packs` leaves it alone until `release()`.
 */
export async function acquireUnpacked(file: string, options: { kind?: PackKind; cacheDir?: string; host?: Host } = {}): Promise<UnpackedPack> {
  const host = options.host ?? currentHost();
  const kind = options.kind ?? packKind(file, host);
  if (kind === 'directory') return { root: file, hash: '', kind, addProcess: () => {}, release: () => {} };
  const cacheDir = options.cacheDir ?? packCacheDir();
  let hash: string;
  try {
    hash = (await fileSha256(file)).toString('hex');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new TsdslError(`cannot read the pack ${file}: permission denied; ask its owner to make it readable (chmod a+r), or copy it somewhere you can read`);
    throw e;
  }
  const dest = join(cacheDir, hash);
  makeCacheDirectories(cacheDir, 'the cache of unpacked packs', 'TSDSL_PACK_CACHE', '.locks');
  const locks = cacheLocks(cacheDir);
  await locks.acquire(hash);
  const user = join(usersDir(cacheDir, hash), `${process.pid}-${randomBytes(4).toString('hex')}`);
  // Unpackings are named by process and where it runs: what a killed run left (kill -9 runs no
  // clean-up) goes at the next run, of any pack, once its process is gone.
  removeLeftoversOfDead(cacheDir, new RegExp(`^\\.tmp-[0-9a-f]{64}-(\\d+)-${OWNED_AT}$`));
  try {
    if (!existsSync(join(dest, MARKER))) {
      if (existsSync(dest)) deleteTree(dest); // a foreign or broken directory under our name
      const tmp = join(cacheDir, `.tmp-${hash}-${process.pid}-${ownerWhere()}`);
      deleteTree(tmp);
      // A Ctrl-C or SIGTERM meanwhile is held until the unpacking (synchronous) ends, so that
      // no half-unpacked directory stays behind; then it ends the command (128+n).
      const interrupts = holdSignals(undefined, ['SIGINT', 'SIGTERM']);
      const stop = async (unpacked: boolean): Promise<void> => {
        await interrupts.pending();
        interrupts.end();
        if (interrupts.received) {
          const kept = unpacked ? `; it was unpacked whole, and the next run uses it (${dest})` : '; nothing half-unpacked was left';
          throw new TsdslError(`interrupted while unpacking ${file}${kept}`, { exitCode: signalExitCode(interrupts.received) });
        }
      };
      try {
        unpackInto(file, kind, tmp, host);
        renameSync(tmp, dest);
      } catch (e) {
        deleteTree(tmp);
        await stop(false);
        throw e;
      }
      await stop(true);
    }
    else if (writableRoot(dest)) makeReadOnly(dest);
    mkdirSync(usersDir(cacheDir, hash), { recursive: true });
    writeFileSync(user, ownerToken() + '\n');
    touch(join(dest, MARKER));
  } finally {
    locks.release(hash);
  }
  let released = false;
  return {
    root: dest,
    hash,
    kind,
    addProcess(pid: number) {
      if (released) return;
      try {
        appendFileSync(user, ownerToken(pid) + '\n');
      } catch {
        // The entry is held by this process anyway; the command's line only outlives a kill -9.
      }
    },
    release() {
      if (released) return;
      released = true;
      touch(join(dest, MARKER));
      rmSync(user, { force: true });
    },
  };
}

function touch(p: string): void {
  try {
    const now = new Date();
    utimesSync(p, now, now);
  } catch {
    // collected meanwhile: nothing to record
  }
}

/** Unpacks a tarball pack (once) and returns the root directory, without holding it. */
export async function unpackPack(file: string, cacheDir = packCacheDir()): Promise<string> {
  const u = await acquireUnpacked(file, { kind: 'tarball', cacheDir });
  u.release();
  return u.root;
}

/** Bytes used by a tree (apparent sizes of files and links, as `du -b`). */
function treeBytes(p: string): number {
  let total = 0;
  const walk = (q: string): void => {
    let st;
    try {
      st = lstatSync(q);
    } catch {
      return;
    }
    if (st.isDirectory()) for (const n of safeReaddir(q)) walk(join(q, n));
    else total += st.size;
  };
  walk(p);
  return total;
}

// ---------------------------------------------------------------------------------------------
// Reclaiming

/** One entry of the cache. */
export interface PackCacheEntry {
  readonly hash: string;
  readonly root: string;
  readonly bytes: number;
  /** When a run last used it (its marker's mtime); epoch 0 for a leftover without one. */
  readonly lastUsed: Date;
  /** Live processes using it now. */
  readonly users: number;
}

/** The entries of the cache, oldest use first. */
export function listPackCache(cacheDir = packCacheDir()): PackCacheEntry[] {
  const out: PackCacheEntry[] = [];
  for (const name of safeReaddir(cacheDir)) {
    if (!HASH.test(name)) continue;
    const root = join(cacheDir, name);
    let lastUsed = new Date(0);
    try {
      lastUsed = statSync(join(root, MARKER)).mtime;
    } catch {
      // no marker: never completed
    }
    out.push({ hash: name, root, bytes: treeBytes(root), lastUsed, users: liveUsers(cacheDir, name).length });
  }
  return out.sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime());
}

/** What `collectPackCache` did. */
export interface PackCacheCollection {
  readonly removed: readonly PackCacheEntry[];
  /** Entries kept, with the reason ("in use by process N", "used 3 days ago"). */
  readonly kept: ReadonlyArray<{ entry: PackCacheEntry; reason: string }>;
  /** Interrupted unpacks of dead processes, removed too. */
  readonly leftovers: number;
  readonly freedBytes: number;
}

const COLLECT_PACK_CACHE_KEYS = Object.keys({ cacheDir: 1, olderThanMs: 1, dryRun: 1, now: 1 } satisfies Record<keyof Parameters<typeof collectPackCache>[0], 1>);
const COLLECT_PACK_CACHE_CHECKS: Readonly<Record<string, FieldCheck>> = {
  cacheDir: fieldChecks.text,
  olderThanMs: [(v) => typeof v === 'number' && v >= 0 && !Number.isNaN(v), 'a number of milliseconds, 0 or more'],
  dryRun: fieldChecks.boolean,
  now: [(v) => v instanceof Date && !Number.isNaN(v.getTime()), 'a Date'],
};

/**
 * Removes the unpacked packs not used for `olderThanMs` (0: all not in use). An entry a running
 * `tsdsl run` uses, or whose lock another process holds, is kept. With `dryRun`, removes nothing
 * and reports what would go.
 */
export function collectPackCache(options: { cacheDir?: string; olderThanMs: number; dryRun?: boolean; now?: Date }): PackCacheCollection {
  // A misspelt `dryRun` (or a missing age) would remove the entries for real, not said.
  checkRequestKeys(options, COLLECT_PACK_CACHE_KEYS, 'collectPackCache()');
  if (options.olderThanMs === undefined) throw new TsdslError('collectPackCache(): `olderThanMs` is required: the age in milliseconds of the entries to remove (0: all not in use)');
  checkRequestTypes(options, COLLECT_PACK_CACHE_CHECKS, 'collectPackCache()');
  const cacheDir = options.cacheDir ?? packCacheDir();
  const now = (options.now ?? new Date()).getTime();
  const removed: PackCacheEntry[] = [];
  const kept: Array<{ entry: PackCacheEntry; reason: string }> = [];
  let freed = 0;
  let leftovers = 0;
  if (!existsSync(cacheDir)) return { removed, kept, leftovers, freedBytes: 0 };
  const locks = cacheLocks(cacheDir);
  for (const entry of listPackCache(cacheDir)) {
    const age = now - entry.lastUsed.getTime();
    if (age < options.olderThanMs) {
      kept.push({ entry, reason: `used ${describeAge(age)} ago` });
      continue;
    }
    const got = locks.tryAcquire(entry.hash);
    if (got !== true) {
      kept.push({ entry, reason: `locked by process ${got.split(' ')[0]}` });
      continue;
    }
    let trash: string | undefined;
    try {
      const users = liveUsers(cacheDir, entry.hash);
      if (users.length > 0) {
        kept.push({ entry, reason: `in use by process ${users.map((u) => u.split(' ')[0]).join(', ')}` });
        continue;
      }
      if (!options.dryRun) {
        trash = join(cacheDir, `.trash-${entry.hash}-${process.pid}-${ownerWhere()}`);
        renameSync(entry.root, trash);
        rmSync(usersDir(cacheDir, entry.hash), { recursive: true, force: true });
      }
    } finally {
      locks.release(entry.hash);
    }
    if (trash) deleteTree(trash);
    removed.push(entry);
    freed += entry.bytes;
  }
  // Interrupted unpacks and deletions of processes that are gone.
  for (const name of safeReaddir(cacheDir)) {
    // Docker-archive unpacks: `.tsdsl-unpack-PID-AT-XXXXXX` (makeOwnedTempDir), older ones
    // `.tsdsl-unpack-XXXXXX` (judged by age).
    const m = LEFTOVER_TMP.exec(name) ?? LEFTOVER_UNPACK.exec(name) ?? /^\.tsdsl-unpack-[A-Za-z0-9]{6}$/.exec(name);
    if (!m) continue;
    const p = join(cacheDir, name);
    // Another PID namespace's or host's process cannot be judged from here: not dead.
    const dead = m[1] !== undefined ? leftoverOwnerDead(m[1], m[2]) : now - safeMtime(p) > 86_400_000;
    if (!dead) continue;
    leftovers++;
    freed += treeBytes(p);
    if (!options.dryRun) deleteTree(p);
  }
  if (!options.dryRun) locks.cleanup();
  return { removed, kept, leftovers, freedBytes: freed };
}

function safeMtime(p: string): number {
  try {
    return lstatSync(p).mtimeMs;
  } catch {
    return Date.now();
  }
}

function describeAge(ms: number): string {
  const days = ms / 86_400_000;
  if (days >= 1) return `${Math.floor(days)} day${Math.floor(days) === 1 ? '' : 's'}`;
  const hours = ms / 3_600_000;
  if (hours >= 1) return `${Math.floor(hours)} hour${Math.floor(hours) === 1 ? '' : 's'}`;
  return `${Math.max(0, Math.floor(ms / 60_000))} min`;
}


/**
 * The store directory and profile of an unpacked pack, as the pack was made, whatever this
 * machine's TSDSL_STORE_DIR: the store directory is the one (a few levels down, store items not
 * entered) holding its `*-profile` item, else `fallback`; the profile is where `/bin` points, or
 * the only `*-profile` item there.
 */
export function packLayout(root: string, fallback: string): { storeDir: string; profile: string | undefined } {
  const found = profilesDirectory(root);
  const storeDir = found?.storeDir ?? fallback;
  try {
    const target = readlinkSync(join(root, 'bin'));
    const m = /^(?:\/|\.\/)?(.*-profile)\//.exec(target.replace(/^\//, ''));
    if (m) return { storeDir, profile: `/${m[1]}` };
  } catch {
    // no /bin link
  }
  let profiles = found?.profiles;
  if (!profiles) {
    try {
      profiles = readdirSync(join(root, fallback.replace(/^\//, ''))).filter((n) => n.endsWith('-profile'));
    } catch {
      profiles = [];
    }
  }
  return { storeDir, profile: profiles.length === 1 ? `${storeDir}/${profiles[0]}` : undefined };
}

/** The directory under `root` (breadth first, four levels at most, store items not entered) that holds `*-profile` items, with them. */
function profilesDirectory(root: string): { storeDir: string; profiles: string[] } | undefined {
  const item = /^[0-9a-df-np-sv-z]{32}-/;
  let level = [''];
  for (let depth = 0; depth < 4 && level.length; depth++) {
    const next: string[] = [];
    for (const rel of level) {
      let entries: import('node:fs').Dirent[];
      try {
        entries = readdirSync(join(root, rel), { withFileTypes: true });
      } catch {
        continue;
      }
      const profiles = rel ? entries.filter((e) => item.test(e.name) && e.name.endsWith('-profile')).map((e) => e.name) : [];
      if (profiles.length) return { storeDir: `/${rel}`, profiles };
      for (const e of entries) if (e.isDirectory() && !item.test(e.name) && !(depth === 0 && ['proc', 'sys', 'dev', 'tmp'].includes(e.name))) next.push(rel ? `${rel}/${e.name}` : e.name);
    }
    level = next.sort();
  }
  return undefined;
}
