/**
 * Instantiation: writing what lowering computed into a store — builder scripts (`text` items),
 * local sources and patches (`source` items) and `.drv` files — in dependency order, in one
 * batch (one database transaction for the derivations). This is `tsdsl build -d`. Idempotent:
 * what is already valid is skipped; the paths the store computes must equal the lowering's.
 */
import { TsdslError } from '../errors.js';
import type { DerivationFiles } from '../store/drv-files.js';
import type { Store } from '../store/store.js';
import type { FinalizedDerivation } from './aterm.js';
import type { Lowerer } from './lower.js';

/**
 * Write the derivations (and everything they refer to) needed for `drvPaths` into `store`.
 * `files`, when lowering handed it the derivations (`lowerer.onDerivation`), has created some of
 * the `.drv` files already; it is finished here either way.
 */
export async function instantiate(store: Store, lowerer: Lowerer, drvPaths: readonly string[], files?: DerivationFiles): Promise<void> {
  try {
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
  const seen = new Set<string>();
  for (const p of drvPaths) for (const d of lowerer.closureOf(p)) if (!seen.has(d.drvPath)) (seen.add(d.drvPath), drvs.push(d));
  const needed = new Set<string>();
  for (const d of drvs) for (const src of d.inputSrcs ?? d.drv.inputSrcs) needed.add(src);
  const validSrcs = stillValid(store, store.validAmong([...needed]));
  for (const path of needed) {
    if (validSrcs.has(path)) continue;
    const item = lowerer.items.get(path);
    if (!item) throw new TsdslError(`internal error: ${path} is an input of a derivation but was not made by the lowering`);
    const got =
      item.kind === 'text'
        ? store.addTextToStore(item.name, item.text, item.references)
        : await store.addToStoreFromPath(item.name, item.file, { method: 'recursive' });
    if (got !== path) throw new TsdslError(`the store put \`${item.name}\` at ${got}, but the derivation expects ${path} (did the file change since it was hashed?)`);
  }
  const valid = stillValid(store, store.validAmong(drvs.map((d) => d.drvPath)));
  const todo = drvs.filter((d) => !valid.has(d.drvPath));
  if (todo.length) store.writeDerivations(todo, files);
}

/**
 * Of `valid` (found valid just now), those still valid once protected: what is not written
 * again because it is valid is what the new items refer to, so it gets a temporary root, and
 * then is looked at again, as a collector may have deleted some before the root was there
 * (from then on it keeps them: it re-reads the roots under the write lock as it deletes).
 */
function stillValid(store: Store, valid: ReadonlySet<string>): ReadonlySet<string> {
  if (valid.size === 0) return valid;
  store.addTempRoots(valid);
  return store.validAmong([...valid]);
}
