/**
 * Instantiation: writing what lowering computed into a store — builder scripts (`text` items),
 * local sources and patches (`source` items) and `.drv` files — in dependency order, in one
 * batch (one database transaction for the derivations). This is `tsdsl build -d`. Idempotent:
 * what is already valid is skipped; the paths the store computes must equal the lowering's.
 */
import { existsSync } from 'node:fs';
import { TsdslError } from '../errors.js';
import type { DerivationFiles } from '../store/drv-files.js';
import { checkStoreArgument, type Store } from '../store/store.js';
import type { FinalizedDerivation } from './aterm.js';
import { checkLoweredPaths, type Lowerer } from './lower.js';

/**
 * Write the derivations (and everything they refer to) needed for `drvPaths` into `store`.
 * `files`, when lowering handed it the derivations (`lowerer.onDerivation`), has created some of
 * the `.drv` files already; it is finished here either way.
 */
export async function instantiate(store: Store, lowerer: Lowerer, drvPaths: readonly string[], files?: DerivationFiles): Promise<void> {
  try {
    checkStoreArgument(store, 'instantiate()');
    checkLoweredPaths(lowerer, drvPaths, 'instantiate()');
    await write(store, lowerer, drvPaths, files);
  } finally {
    files?.abort();
  }
}

async function write(store: Store, lowerer: Lowerer, drvPaths: readonly string[], files: DerivationFiles | undefined): Promise<void> {
  if (store.storeDir !== lowerer.storeDir) {
    throw new TsdslError(`the store's directory is ${store.storeDir} but the derivations were computed for ${lowerer.storeDir}; set TSDSL_STORE_DIR consistently`);
  }
  // Temporary roots: a garbage collection running meanwhile keeps these (and what they need).
  store.addTempRoots(drvPaths);
  const drvs: FinalizedDerivation[] = [];
  const byPath = new Map<string, FinalizedDerivation>();
  // One walk over every root together: a walk per root costs roots × closure.
  for (const d of lowerer.closureOf(drvPaths)) (byPath.set(d.drvPath, d), drvs.push(d));
  // What is written: the derivations not valid yet. The valid ones they refer to are not written
  // again; those are protected, then looked at again (a collector may have taken one first,
  // and then it is written too, and so on down). The top ones are rooted already: a valid one
  // keeps its closure, so a re-run that writes nothing roots nothing more.
  const valid = store.validAmong([...byPath.keys()]);
  refuseMissingFiles(store, valid);
  const todo = new Map<string, FinalizedDerivation>();
  for (const d of drvs) if (!valid.has(d.drvPath)) todo.set(d.drvPath, d);
  for (let fresh = [...todo.values()]; fresh.length; ) {
    const relied = new Set<string>();
    for (const d of fresh) for (const i of d.inputDrvPaths ?? Object.keys(d.drv.inputDrvs)) if (!todo.has(i)) relied.add(i);
    fresh = gone(store, relied).map((path) => byPath.get(path)!);
    for (const d of fresh) todo.set(d.drvPath, d);
  }
  // The sources of what is written: those missing are added, the valid ones protected likewise.
  const needed = new Set<string>();
  for (const d of todo.values()) for (const src of d.inputSrcs ?? d.drv.inputSrcs) needed.add(src);
  await addItems(store, lowerer, needed);
  // In dependency order, as lowering made them.
  if (todo.size) store.writeDerivations(drvs.filter((d) => todo.has(d.drvPath)), files);
}

/**
 * Adds the text and source items `paths` (made by `lowerer`: builder scripts, local sources and
 * patches) that are not valid yet; the valid ones get temporary roots. `tsdsl build -S` of a
 * local source, which no derivation builds, adds its item so.
 */
export async function addItems(store: Store, lowerer: Lowerer, paths: ReadonlySet<string>): Promise<void> {
  const present = store.validAmong([...paths]);
  refuseMissingFiles(store, present);
  const lost = new Set(gone(store, present));
  for (const path of paths) {
    if (present.has(path) && !lost.has(path)) continue;
    const item = lowerer.items.get(path);
    if (!item) throw new TsdslError(`internal error: ${path} is an input of a derivation but was not made by the lowering`);
    const got =
      item.kind === 'text'
        ? store.addTextToStore(item.name, item.text, item.references)
        : await store.addToStoreFromPath(item.name, item.file, { method: 'recursive' });
    if (got !== path) throw new TsdslError(`the store put \`${item.name}\` at ${got}, but the derivation expects ${path} (did the file change since it was hashed?)`);
  }
}

/**
 * Refuses to build on valid items whose files were deleted by hand (the database trusts files
 * nobody should touch): what is written would refer to them, and a build would fail on them.
 * One stat per item.
 */
function refuseMissingFiles(store: Store, valid: Iterable<string>): void {
  const gone = missingFromDisk(store, valid);
  if (gone.length) throw new TsdslError(missingFromDiskText(gone, 'needed here', 'run this again'));
}

/** Of `valid` (paths valid in the database), those whose files are gone (one stat each). */
export function missingFromDisk(store: Store, valid: Iterable<string>): string[] {
  const gone: string[] = [];
  for (const p of valid) if (!existsSync(store.physicalPath(p))) gone.push(p);
  return gone;
}

/** Says registered items whose files are gone (`gone`, those `what`), and the way out, then `then`. */
export function missingFromDiskText(gone: readonly string[], what: string, then: string): string {
  return (
    `${gone.length === 1 ? 'the store item' : `${gone.length} store items`} ${what} ${gone.length === 1 ? 'is' : 'are'} registered but missing from disk (${gone.slice(0, 3).join(', ')}${gone.length > 3 ? ', …' : ''}); ` +
    `run \`tsdsl verify --repair\` to forget the damaged items and those that refer to them, then ${then}`
  );
}

/**
 * Of `valid` (paths found valid, which new items will refer to), those gone once protected:
 * each gets a temporary root and is looked at again, as a collector may have deleted one
 * before its root was there (from then on it keeps them: it re-reads the roots under the
 * write lock as it deletes).
 */
function gone(store: Store, valid: ReadonlySet<string>): string[] {
  if (valid.size === 0) return [];
  store.addTempRoots(valid);
  const still = store.validAmong([...valid]);
  return [...valid].filter((p) => !still.has(p));
}
