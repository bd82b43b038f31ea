/**
 * Store maintenance: garbage collection, verification and closure sizes of the local store.
 *
 * The collector works as Nix's does by default. What is live is the closure of the roots
 * (named roots, and indirect roots whose symlink still points at their item), of the
 * temporary roots of running processes, and of paths whose per-path lock a live process
 * holds; a derivation a running process wrote or is building from also keeps its outputs and
 * those of its inputs, which that build may be about to use. A live output keeps the derivation
 * that built it, with that derivation's closure (Nix's and Guix's `keep-derivations`, on by
 * default there too): the recipe of what is kept stays to be shown and built again; their other
 * outputs are not kept for it (`keep-outputs` is off). Everything else valid is dead. Dead paths are deleted referrers first, in batches, through
 * `LocalStore.deletePaths`, which re-checks liveness under the database write lock, so a root
 * added meanwhile still protects its closure. Collection also drops dead indirect roots,
 * crash leftovers, and the merged build roots cached in `<root>/var/roots` (see
 * `build/rootfs.ts`) whose items are gone. `tsdsl gc`, `tsdsl verify` and `tsdsl size` sit on
 * this module.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareStrings } from '../compare.js';
import { nix32Encode } from '../derivation/hash.js';
import { WHERE_PATTERN, ownerAlive } from './lock.js';
import { narHash } from './nar.js';
import { TsdslError, checkRequestKeys, checkStringList, checkRequestTypes, fieldChecks, shown, type FieldCheck } from '../errors.js';
import { checkStoreArgument, deleteTree } from './store.js';
import type { LocalStore } from './store.js';

/** How many dead paths are deleted per database transaction. */
const BATCH = 256;

/** Crash leftovers younger than this (seconds) may be a writer's work in progress and stay. */
const LEFTOVER_MIN_AGE = 3600;

/**
 * The paths the collector keeps: the closure of live roots, temporary roots and locked
 * paths, plus the outputs (with their closures) of derivations in use by running processes,
 * and the derivations (with their closures) that built any of those.
 */
export function liveSet(store: LocalStore): Set<string> {
  const valid = (p: string): boolean => store.isValid(p);
  const seeds = new Set<string>();
  for (const r of store.listRoots()) if ((!r.indirect || r.live) && valid(r.path)) seeds.add(r.path);
  const temp = store.tempRoots().filter(valid);
  const locked = store.lockedPaths();
  for (const p of temp) seeds.add(p);
  for (const p of locked) if (valid(p)) seeds.add(p);
  // A running process that wrote a derivation, or builds one (it holds the lock on an
  // output), may use the outputs of any derivation in its closure as build inputs.
  const drvs = new Set(temp.filter((p) => p.endsWith('.drv')));
  for (const p of locked) for (const d of store.queryDerivers(p)) drvs.add(d);
  if (drvs.size > 0) {
    for (const d of store.queryRequisites([...drvs])) {
      if (!d.endsWith('.drv')) continue;
      seeds.add(d);
      for (const out of Object.values(store.queryDerivationOutputs(d))) if (valid(out)) seeds.add(out);
    }
  }
  const live = new Set(seeds.size > 0 ? store.queryRequisites([...seeds]) : []);
  // The derivers of what is live, until none is new (a derivation's closure holds derivations
  // and sources, whose own derivers, if any, follow).
  for (let added = [...live]; added.length > 0; ) {
    const derivers: string[] = [];
    for (const p of added) {
      if (p.endsWith('.drv')) continue;
      for (const d of store.queryDerivers(p)) if (!live.has(d)) derivers.push(d);
    }
    added = [];
    if (derivers.length === 0) break;
    for (const p of store.queryRequisites(derivers)) {
      if (live.has(p)) continue;
      live.add(p);
      added.push(p);
    }
  }
  return live;
}

/**
 * Orders `paths` so that every path comes after all of its referrers among them (the order
 * that never leaves a valid path referring to a deleted one); deterministic for given input.
 */
export function referrersFirst(paths: Iterable<string>, references: Iterable<readonly [referrer: string, reference: string]>): string[] {
  const set = new Set(paths);
  const pending = new Map<string, number>();
  const refsOf = new Map<string, string[]>();
  for (const p of set) pending.set(p, 0);
  for (const [from, to] of references) {
    if (from === to || !set.has(from) || !set.has(to)) continue;
    pending.set(to, pending.get(to)! + 1);
    let list = refsOf.get(from);
    if (!list) refsOf.set(from, (list = []));
    list.push(to);
  }
  const ready = [...set].filter((p) => pending.get(p) === 0).sort();
  const order: string[] = [];
  for (let head = 0; head < ready.length; head++) {
    const p = ready[head]!;
    order.push(p);
    for (const to of refsOf.get(p) ?? []) {
      const n = pending.get(to)! - 1;
      pending.set(to, n);
      if (n === 0) ready.push(to);
    }
  }
  // Reference cycles cannot be built, but a hand-edited database could hold one: those go
  // last, where deletePaths keeps any path that is still referred to.
  if (order.length < set.size) order.push(...[...set].filter((p) => pending.get(p)! > 0).sort());
  return order;
}

/** The valid paths that are not live, in an order safe for deletion (referrers first). */
export function deadPaths(store: LocalStore): string[] {
  const live = liveSet(store);
  return referrersFirst(
    store.allValidPaths().filter((p) => !live.has(p)),
    store.queryAllReferences(),
  );
}

/** Options of `collectGarbage`. */
export interface GcOptions {
  /** Work out what would be deleted, and delete nothing. */
  dryRun?: boolean;
  /** Stop once at least this many bytes are freed (default: delete every dead path). */
  maxFreed?: number;
  /** Called after each batch of deletions, e.g. to print progress. */
  onDeleted?: (paths: readonly string[]) => void;
}

const GC_OPTION_KEYS = Object.keys({ dryRun: 1, maxFreed: 1, onDeleted: 1 } satisfies Record<keyof GcOptions, 1>);
const GC_OPTION_CHECKS: Readonly<Record<string, FieldCheck>> = {
  dryRun: fieldChecks.boolean,
  maxFreed: [(v) => typeof v === 'number' && v >= 0, 'a number of bytes, 0 or more'],
  onDeleted: fieldChecks.function,
};

/** What `collectGarbage` did (or, with `dryRun`, would do). */
export interface GcResult {
  dryRun: boolean;
  /** Dead store paths deleted, referrers first. */
  deleted: string[];
  /**
   * Bytes freed: regular files with no other hard link. With `dryRun`, an estimate from the
   * NAR sizes in the database.
   */
  freedBytes: number;
  /** Unregistered items in the store directory (crash leftovers) deleted. */
  leftovers: string[];
  /** Cached merged build roots under `<root>/var/roots` deleted. */
  caches: string[];
  /** Names of indirect roots dropped because their symlink is gone or points elsewhere. */
  deadRoots: string[];
  /** Temporary files of dead processes removed. */
  tempFiles: number;
}

/**
 * Deletes dead paths (all of them, or until `maxFreed` bytes are freed) and the stale files
 * around them. Safe to run while other processes use the store: see the module comment.
 */
export function collectGarbage(store: LocalStore, options: GcOptions = {}): GcResult {
  // A misspelt `dryRun` would delete for real: every field is checked first.
  checkStoreArgument(store, 'collectGarbage()');
  checkRequestKeys(options, GC_OPTION_KEYS, 'collectGarbage()');
  checkRequestTypes(options, GC_OPTION_CHECKS, 'collectGarbage()');
  const maxFreed = options.maxFreed ?? Number.POSITIVE_INFINITY;
  const narSize = (p: string): number => store.queryPathInfo(p)?.narSize ?? 0;
  if (options.dryRun) {
    const deleted: string[] = [];
    let bytes = 0;
    for (const p of deadPaths(store)) {
      if (bytes >= maxFreed) break;
      deleted.push(p);
      bytes += narSize(p);
    }
    return {
      dryRun: true,
      deleted,
      freedBytes: bytes,
      leftovers: bytes < maxFreed ? store.leftovers(LEFTOVER_MIN_AGE) : [],
      caches: staleRootfsCaches(store, new Set(deleted)),
      deadRoots: store.listRoots().filter((r) => r.indirect && !r.live).map((r) => r.name),
      tempFiles: 0,
    };
  }

  const deadRoots = store.removeDeadIndirectRoots();
  store.purgeStaleTempRoots();
  const tempFiles = store.removeStaleTemporaries();
  const order = deadPaths(store);
  const deleted: string[] = [];
  let freedBytes = 0;
  for (let i = 0; i < order.length && freedBytes < maxFreed; ) {
    // A batch ends at BATCH paths, or once its NAR sizes should cover what is still wanted.
    const batch: string[] = [];
    let estimate = 0;
    while (i < order.length && batch.length < BATCH && freedBytes + estimate < maxFreed) {
      const p = order[i++]!;
      batch.push(p);
      estimate += narSize(p);
    }
    const r = store.deletePaths(batch, { keep: () => liveSet(store) });
    freedBytes += r.freedBytes;
    deleted.push(...r.deleted);
    if (r.deleted.length > 0) options.onDeleted?.(r.deleted);
  }
  let leftovers: string[] = [];
  if (freedBytes < maxFreed) {
    const r = store.deleteLeftovers(LEFTOVER_MIN_AGE);
    freedBytes += r.freedBytes;
    leftovers = r.deleted;
  }
  // Last: cached roots hold hard links to store files, which only now have no other link.
  const caches = staleRootfsCaches(store, new Set());
  for (const c of caches) freedBytes += deleteTree(c);
  return { dryRun: false, deleted, freedBytes, leftovers, caches, deadRoots, tempFiles };
}

/** A half-made build root's name: `.tmp-<key>-<pid>-[<where>-]<time>` (see bootstrapRootfs). */
const HALF_MADE_ROOT = new RegExp(`^\\.tmp-[0-9a-f]+-(\\d+)-(?:(${WHERE_PATTERN})-)?\\d+$`);

/**
 * Cached merged build roots (`<root>/var/roots/<key>`) that list an item that is no longer
 * valid or is in `goingAway`, and half-made ones (`.tmp-<key>-<pid>-<where>-<time>`) of dead processes.
 */
function staleRootfsCaches(store: LocalStore, goingAway: ReadonlySet<string>): string[] {
  const dir = join(store.root, 'var', 'roots');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const stale: string[] = [];
  for (const name of names.sort()) {
    const full = join(dir, name);
    const tmp = HALF_MADE_ROOT.exec(name);
    if (tmp) {
      if (!ownerAlive(`${tmp[1]} 0${tmp[2] ? ` ${tmp[2]}` : ''}`)) stale.push(full);
      continue;
    }
    let items: string[];
    try {
      items = readFileSync(join(full, '.complete'), 'utf8').split('\n').filter(Boolean);
    } catch {
      continue; // not a cache entry made by rootfs.ts: leave it alone
    }
    if (items.some((p) => goingAway.has(p) || !store.isValid(p))) stale.push(full);
  }
  return stale;
}

/** Kinds of problem `verifyStore` reports. */
export type StoreProblemKind = 'missing' | 'hash-mismatch' | 'dangling-reference' | 'dangling-root';

/** One problem found in the store: `message` is a one-line description naming the path. */
export interface StoreProblem {
  kind: StoreProblemKind;
  path: string;
  message: string;
}

/** Options of `verifyStore`. */
export interface VerifyOptions {
  /** Also hash every item and compare with the NAR hash in the database (reads every byte). */
  checkContents?: boolean;
  /** Called before each item is checked. */
  onItem?: (path: string, index: number, total: number) => void;
}

const VERIFY_OPTION_KEYS = Object.keys({ checkContents: 1, onItem: 1 } satisfies Record<keyof VerifyOptions, 1>);

/**
 * Checks the store against its database: every valid path's files exist (and, with
 * `checkContents`, hash to the recorded NAR hash and size), every reference row names valid
 * paths, and every live root points at a valid path. Returns all problems found.
 */
export async function verifyStore(store: LocalStore, options: VerifyOptions = {}): Promise<{ checked: number; problems: StoreProblem[] }> {
  checkStoreArgument(store, 'verifyStore()');
  checkRequestKeys(options, VERIFY_OPTION_KEYS, 'verifyStore()');
  checkRequestTypes(options, { checkContents: fieldChecks.boolean, onItem: fieldChecks.function }, 'verifyStore()');
  const problems: StoreProblem[] = [];
  const paths = store.allValidPaths();
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    options.onItem?.(path, i, paths.length);
    const physical = store.physicalPath(path);
    // A collector running beside may delete an item after the list was read: what is no longer
    // valid when its problem is found is not a problem.
    try {
      lstatSync(physical);
    } catch {
      if (store.isValid(path)) problems.push({ kind: 'missing', path, message: `missing: ${path} is valid but ${physical} does not exist` });
      continue;
    }
    if (!options.checkContents) continue;
    const info = store.queryPathInfo(path);
    if (!info) continue;
    let actual: { hash: Buffer; size: number };
    try {
      actual = await narHash(physical);
    } catch (e) {
      if (store.isValid(path)) problems.push({ kind: 'hash-mismatch', path, message: `hash mismatch: ${path} cannot be read (${(e as Error).message})` });
      continue;
    }
    const hash = `sha256:${nix32Encode(actual.hash)}`;
    if ((hash !== info.narHash || actual.size !== info.narSize) && store.isValid(path)) {
      problems.push({
        kind: 'hash-mismatch',
        path,
        message: `hash mismatch: ${path} has NAR hash ${hash} (${actual.size} bytes), but the database records ${info.narHash} (${info.narSize} bytes)`,
      });
    }
  }
  for (const r of store.danglingReferences()) {
    const path = r.referrer ?? r.reference ?? '?';
    problems.push({
      kind: 'dangling-reference',
      path,
      message: r.referrer
        ? `dangling reference: ${r.referrer} refers to a path that is not valid${r.reference ? ` (${r.reference})` : ''}`
        : `dangling reference: a path that is no longer valid (its row was removed) refers to ${r.reference ?? 'another path that is no longer valid'}`,
    });
  }
  for (const root of store.listRoots()) {
    if ((root.indirect && !root.live) || store.isValid(root.path)) continue;
    problems.push({ kind: 'dangling-root', path: root.path, message: `dangling root: ${root.name} points at ${root.path}, which is not valid` });
  }
  return { checked: paths.length, problems };
}

/** What `repairStore` did. */
export interface RepairResult {
  /** The damaged items and every valid item that refers to them, directly or not, now forgotten. */
  forgotten: string[];
  /** Of those, the ones that could not be forgotten (being built or added meanwhile). */
  busy: string[];
}

/** Whether a problem is a damaged item (missing or changed files), what `repairStore` repairs; the others are the database's. */
export function isDamagedItem(p: StoreProblem): boolean {
  return p.kind === 'missing' || p.kind === 'hash-mismatch';
}

/**
 * Forgets the items `verifyStore` found missing or damaged, with every item that refers to
 * them (an item is valid only with its whole closure), deleting what is left of their files:
 * the next build makes them again, at the same paths. Roots that kept them stay, and hold them
 * again once they are rebuilt. Dangling references and roots are the database's damage, not
 * repaired here.
 */
export function repairStore(store: LocalStore, problems: readonly StoreProblem[]): RepairResult {
  checkStoreArgument(store, 'repairStore()');
  if (!Array.isArray(problems) || !problems.every((p: unknown) => typeof (p as StoreProblem | null)?.kind === 'string' && typeof (p as StoreProblem).path === 'string')) {
    throw new TsdslError(`repairStore() takes the problems verifyStore() found (repairStore(store, (await verifyStore(store)).problems)), not ${shown(problems)}`);
  }
  const damaged = problems.filter(isDamagedItem).map((p) => p.path);
  const set = new Set<string>();
  // An item a collector deleted since it was found (verify beside gc) is no longer valid: not damaged.
  const stack = damaged.filter((p) => store.isValid(p));
  while (stack.length) {
    const p = stack.pop()!;
    if (set.has(p)) continue;
    set.add(p);
    for (const r of store.queryReferrers(p)) if (!set.has(r)) stack.push(r);
  }
  // deletePaths takes the whole set at once (every referrer is in it); sorted for a stable report.
  const order = [...set].sort(compareStrings);
  const { deleted } = store.deletePaths(order);
  const gone = new Set(deleted);
  // Cached build roots hold hard links to the files of what was forgotten (the damaged files
  // themselves): the item made again must not be met through them.
  for (const cache of staleRootfsCaches(store, gone)) deleteTree(cache);
  return { forgotten: deleted.sort(compareStrings), busy: order.filter((p) => !gone.has(p)) };
}

/** One item of `closureSizes`' report. */
export interface SizeEntry {
  path: string;
  /** Bytes of the item itself (NAR size). */
  self: number;
  /** Bytes of the item's closure, itself included. */
  total: number;
}

/** The closure of `paths` with sizes, sorted by closure size (largest first), then by path. */
export function closureSizes(store: LocalStore, paths: readonly string[]): { items: SizeEntry[]; total: number } {
  checkStoreArgument(store, 'closureSizes()');
  checkStringList(paths, 'closureSizes()', 'store paths');
  const closure = store.queryRequisites(paths);
  const infos = closure.map((p) => store.queryPathInfo(p));
  const self = infos.map((info) => info?.narSize ?? 0);
  const totals = closureTotals(infos.map((info) => info?.references ?? []), closure, self);
  const items = closure.map((path, i) => ({ path, self: self[i]!, total: totals[i]! }));
  items.sort((a, b) => b.total - a.total || compareStrings(a.path, b.path));
  return { items, total: self.reduce((n, s) => n + s, 0) };
}

/**
 * The size of each item's closure, for items whose references (`refs[i]`, store paths) all lie
 * among `paths`. A query of the database per item (its requisites) was items × closure: minutes
 * for a closure of a few thousand items. Instead each item's closure is a bit set, the union of
 * its references' sets, made once theirs are (references first), and dropped once every item
 * that refers to it has used it; what a reference cycle leaves (no store a build made has one)
 * is walked item by item.
 */
export function closureTotals(refs: ReadonlyArray<readonly string[]>, paths: readonly string[], self: readonly number[]): number[] {
  const n = paths.length;
  const index = new Map(paths.map((p, i) => [p, i]));
  const out: number[][] = refs.map((rs, i) => [...new Set(rs.map((r) => index.get(r)).filter((j): j is number => j !== undefined && j !== i))]);
  const referrers: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) for (const j of out[i]!) referrers[j]!.push(i);
  const words = (n + 31) >>> 5;
  const bits: Array<Uint32Array | undefined> = new Array(n);
  const waiting = out.map((o) => o.length);
  const users = referrers.map((r) => r.length);
  const totals = new Array<number>(n).fill(0);
  const sum = (b: Uint32Array): number => {
    let total = 0;
    for (let w = 0; w < words; w++) {
      for (let x = b[w]!; x !== 0; x &= x - 1) total += self[(w << 5) + 31 - Math.clz32(x & -x)]!;
    }
    return total;
  };
  const ready = waiting.flatMap((c, i) => (c === 0 ? [i] : []));
  while (ready.length) {
    const i = ready.pop()!;
    const b = new Uint32Array(words);
    b[i >>> 5]! |= 1 << (i & 31);
    for (const j of out[i]!) {
      const r = bits[j]!;
      for (let w = 0; w < words; w++) b[w]! |= r[w]!;
      if (--users[j]! === 0) bits[j] = undefined;
    }
    totals[i] = sum(b);
    if (users[i]! > 0) bits[i] = b;
    for (const k of referrers[i]!) if (--waiting[k]! === 0) ready.push(k);
  }
  // On a cycle (or above one): a walk of its own.
  for (let i = 0; i < n; i++) {
    if (waiting[i] === 0) continue;
    const seen = new Set<number>([i]);
    const stack = [i];
    while (stack.length) for (const j of out[stack.pop()!]!) if (!seen.has(j)) (seen.add(j), stack.push(j));
    totals[i] = [...seen].reduce((t, j) => t + self[j]!, 0);
  }
  return totals;
}
