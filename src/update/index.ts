/**
 * The updater table: each entry names an updater and builds it from options. `tsdsl import`,
 * `tsdsl refresh` and the `--with-latest`/`--with-version` transformations look updaters up
 * here by name (`debian` is the default), so adding one is adding an entry.
 */
import { TsdslError, didYouMean } from '../errors.js';
import { DebianUpdater, type DebianUpdaterOptions } from './debian.js';
import type { Updater } from './updater.js';

export type { Release, ReleaseFile, Updater } from './updater.js';
export { findRelease, latestRelease, unknownPackage } from './updater.js';

/** Options every updater accepts (each reads what applies to it). */
export type UpdaterOptions = DebianUpdaterOptions;

export interface UpdaterEntry {
  readonly name: string;
  readonly description: string;
  make(options: UpdaterOptions): Updater;
}

export const updaters: readonly UpdaterEntry[] = [
  {
    name: 'debian',
    description: "Debian's source index (versions, .orig tarballs with sha256, Build-Depends) from the machine's apt archive",
    make: (options) => new DebianUpdater(options),
  },
];

/** The updater called `name`, or a TsdslError listing the known ones. */
export function makeUpdater(name: string, options: UpdaterOptions = {}): Updater {
  const entry = updaters.find((u) => u.name === name);
  if (!entry) {
    throw new TsdslError(`unknown updater \`${name}\`${didYouMean(name, updaters.map((u) => u.name))} (the updaters: ${updaters.map((u) => u.name).join(', ')})`);
  }
  return entry.make(options);
}

const shared = new Map<string, Updater>();

/** One updater per name for the whole process (indexes are loaded once), built with default options. */
export function defaultUpdater(name = 'debian', log?: (text: string) => void): Updater {
  let u = shared.get(name);
  if (!u) {
    u = makeUpdater(name, log ? { log } : {});
    shared.set(name, u);
  }
  return u;
}
