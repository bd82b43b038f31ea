/**
 * What `pack()` and `run({ packages })` share: resolve the requested packages (spec strings and
 * transformation options, in order), then lower their profile, build what the store lacks, and
 * read the profile's closure and search paths back from the store.
 */
import { interruptedError, warnOnStderr } from '../errors.js';
import { checkProfileItems, itemPackage, withItemPackages, type Package, type ProfileItem } from '../dsl/package.js';
import type { Collection } from '../registry/collection.js';
import type { TransformSpec } from '../transform/api.js';
import type { LocalStore } from '../store/store.js';
import type { BuildEvent } from './scheduler.js';

/**
 * Packages and outputs (or spec strings, `hwloc:lib` too, resolved in `collection`, default the
 * default collection) with the transformation options (`--with-input=scotch=pt-scotch`, …)
 * applied in order. The async form: `--with-latest`/`--with-version` look releases up first.
 */
export async function requestedPackages(
  requested: ReadonlyArray<ProfileItem | string>,
  transformations: TransformSpec | readonly string[] | undefined,
  collection: Collection | undefined,
  warn: (message: string) => void = warnOnStderr,
  who = 'pack()',
): Promise<ProfileItem[]> {
  const { getDefaultCollection, orderedTransformations } = await import('../transform/api.js');
  const { applyTransformOptions } = await import('../transform/options.js');
  const c = collection ?? getDefaultCollection();
  const items = requested.map((p) => (typeof p === 'string' ? c.resolveItem(p) : p));
  // An output a package lacks is said now, before anything is built.
  checkProfileItems(items, who);
  if (transformations === undefined) return items;
  const { ordered, objects } = orderedTransformations(transformations, who);
  if (ordered.length === 0) return items;
  return withItemPackages(items, await applyTransformOptions(items.map(itemPackage), ordered, c, { warn }, { objects }));
}

export interface ProfileBuild {
  /** Packages built beside the profile but not in it (their store paths come back in `carried`). */
  carried?: readonly Package[];
  /** The collection revision to record in the profile's manifest (`--save-provenance`). */
  collectionRevision?: string;
  maxJobs?: number;
  cores?: number;
  onEvent?: (e: BuildEvent) => void;
  /** Stops the builds (what was built stays in the store); then an `interrupted` error is thrown. */
  signal?: AbortSignal;
}

export interface BuiltProfile {
  /** The profile's store path. */
  profile: string;
  /** The output paths of `carried`, in order. */
  carried: string[];
  /** Every store item the profile and the carried packages need, from the recorded references. */
  closure: string[];
  /** Search-path variables (PATH, LIBRARY_PATH, …) of the profile, at its logical path. */
  env: Record<string, string>;
}

/** Lower the profile of `items` (packages and outputs), build what `store` lacks, and read its closure. */
export async function buildProfile(store: LocalStore, items: readonly ProfileItem[], options: ProfileBuild = {}): Promise<BuiltProfile> {
  const { Lowerer } = await import('../derivation/lower.js');
  const { instantiate } = await import('../derivation/instantiate.js');
  const { realise } = await import('./scheduler.js');
  const { profileSearchPaths } = await import('./builtins.js');
  const carried = options.carried ?? [];
  const lowerer = new Lowerer(store.storeDir);
  await lowerer.prepare([...items.map(itemPackage), ...carried]);
  const profile = lowerer.lowerProfile(items, options.collectionRevision ? { collectionRevision: options.collectionRevision } : {});
  const carriedOut = carried.map((p) => lowerer.lowerGrafted(p));
  const drvPaths = [profile.drvPath, ...carriedOut.map((l) => l.drvPath)];
  await instantiate(store, lowerer, drvPaths);
  try {
    await realise(store, lowerer, drvPaths, {
      maxJobs: options.maxJobs ?? 1,
      cores: options.cores ?? (await import('node:os')).availableParallelism(),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (e) {
    // A build that failed once interrupted failed because of the interruption.
    if (!options.signal?.aborted) throw e;
  }
  if (options.signal?.aborted) throw interruptedError();
  const profilePath = profile.outputs['out']!;
  const carriedPaths = carriedOut.map((l) => l.outputs['out']!);
  return {
    profile: profilePath,
    carried: carriedPaths,
    closure: store.queryRequisites([profilePath, ...carriedPaths]),
    env: profileSearchPaths(store.physicalPath(profilePath), profilePath),
  };
}
