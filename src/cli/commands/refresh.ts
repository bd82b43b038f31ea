/**
 * `tsdsl refresh`: which packages have a newer release in an updater's index (Debian's source
 * index), and with `-u` rewrite their definitions — version, sha256, URLs, `debianVersion` —
 * in place, comments and layout kept (src/edit/source.ts). `-u NAME=VERSION` picks a release.
 */
import { formatLocation } from '../../dsl/location.js';
import { versionParent, type Package } from '../../dsl/package.js';
import { TsdslError } from '../../errors.js';
import { debianNameHint, isNewer, updaterName } from '../../transform/latest.js';
import { findRelease, latestRelease, makeUpdater, updaters, type Release } from '../../update/index.js';
import { packageVersion } from '../../update/updater.js';
import { addedFileName, newFileName, newUrls } from '../../update/urls.js';
import type { Command } from '../command.js';
import { err, out, warn } from '../command.js';
import { collectionFrom } from '../packages.js';
import { loadOptions } from '../options.js';

/** The packages `refresh` looks at: named ones, else every package with a url() source that is not a bootstrap seed. */
function candidates(all: readonly Package[]): Package[] {
  const seen = new Set<string>();
  return all.filter((p) => {
    if (p.source?.kind !== 'url' || p.properties['bootstrap'] === true || p.properties['hidden'] === true) return false;
    // One that takes its version from another (PT-Scotch from Scotch) follows that one's refresh.
    if (versionParent(p)) return false;
    if (seen.has(p.name)) return false;
    seen.add(p.name);
    return true;
  });
}

export const command: Command = {
  name: 'refresh',
  summary: "list packages with newer releases in Debian's source index, or update their definitions",
  usage: 'tsdsl refresh [OPTION]... [PACKAGE[=VERSION]]...',
  details:
    "Compares package versions with the updater's index (Debian's Sources index of the archive in apt's sources; " +
    'suites `unstable` and apt\'s own unless TSDSL_DEBIAN_SUITES says otherwise). With -u, rewrites version (or the ' +
    "file's version constant the definition uses), sha256, URLs, a url()'s fileName and debianVersion in the package files, " +
    'keeping their comments, layout and line endings; every named release is looked up before any file is written; an edit ' +
    'that would break the file, or a file that is read-only or changed meanwhile, is refused and the file left as it was. ' +
    'PACKAGE=VERSION picks a release instead of the latest.',
  examples: [
    ['tsdsl refresh', 'which packages have a newer version in the index'],
    ['tsdsl refresh -u hwloc', "rewrite hwloc's definition to the latest version (version and sha256)"],
    ['tsdsl refresh -u hwloc=2.15.0', 'rewrite it to release 2.15.0'],
    ['TSDSL_DEBIAN_SUITES=bookworm tsdsl refresh', "compare with Debian 12's versions only"],
  ],
  options: [
    { name: 'update', short: 'u', kind: 'boolean', description: 'rewrite the definitions in their files' },
    { name: 'updater', short: 't', kind: 'string', arg: 'NAME', description: `updater to use (${updaters.map((u) => u.name).join(', ')}; default debian)` },
    { name: 'dry-run', short: 'n', kind: 'boolean', description: 'with -u: say what would change, write nothing' },
    ...loadOptions,
  ],
  async run(args) {
    const collection = await collectionFrom(args);
    const updater = makeUpdater((args.values['updater'] as string | undefined) ?? 'debian', { log: (t) => err(`tsdsl: ${t}`) });
    const named = args.positionals.map((spec) => {
      const i = spec.indexOf('=');
      const name = i < 0 ? spec : spec.slice(0, i);
      const version = i < 0 ? undefined : spec.slice(i + 1);
      if (version === '') throw new TsdslError(`tsdsl refresh: \`${spec}\`: nothing after \`=\`; write NAME=VERSION (e.g. hwloc=2.15.0)`);
      const pkg = collection.resolve(name);
      // What the updater cannot refresh is said as such, not as a name its index lacks.
      const parent = versionParent(pkg);
      const why =
        pkg.properties['bootstrap'] === true
          ? `is part of the bootstrap toolchain (${formatLocation(pkg.location)}), Debian binaries pinned together: they are refreshed with the toolchain, not one by one`
          : pkg.source?.kind !== 'url'
            ? `has ${pkg.source ? `a ${pkg.source.kind}() source` : 'no source'} (${formatLocation(pkg.location)}); refresh follows url() sources in the updater's index`
            : parent
              ? `takes its version from \`${parent.name}\` (${formatLocation(pkg.location)} inherits it): refresh \`${parent.name}\`, and ${pkg.name} follows`
              : undefined;
      if (why) throw new TsdslError(`tsdsl refresh: \`${pkg.name}\` ${why}`);
      return { pkg, version };
    });
    const update = args.values['update'] === true;
    const dryRun = args.values['dry-run'] === true;
    // Without -u nothing is written anyway: -n alone would read as a choice it is not.
    if (dryRun && !update) warn('-n/--dry-run means something with -u only (refresh without -u writes nothing already)');
    const work = named.length ? named : candidates(collection.all()).map((pkg) => ({ pkg, version: undefined as string | undefined }));
    // Every named package's release first: one the index lacks (a misspelt version, a package
    // Debian calls otherwise) stops the command before any file is rewritten, not after some were.
    const releases = new Map<(typeof work)[number], Release>();
    if (named.length) {
      for (const w of work) {
        const name = updaterName(w.pkg);
        try {
          releases.set(w, w.version !== undefined ? await findRelease(updater, name, w.version) : await latestRelease(updater, name));
        } catch (e) {
          // Debian may know it under another name (xz is xz-utils): the definition can say so.
          throw debianNameHint(e, w.pkg);
        }
      }
    }
    let changed = 0;
    let failed = 0;
    const edited = new Set<string>();
    for (const w of work) {
      const { pkg, version } = w;
      const where = formatLocation(pkg.location);
      const release = releases.get(w) ?? (await updater.latest(updaterName(pkg)));
      if (!release) continue;
      const wanted = version !== undefined || isNewer(release, pkg);
      // The version the package gets (`3.0.0rc1` for Debian's 3.0.0~rc1).
      const next = packageVersion(release);
      if (!wanted || (next === pkg.version && pkg.source?.kind === 'url' && pkg.source.sha256 === release.source.sha256)) {
        if (named.length) err(`${where}: ${pkg.name} ${pkg.version} is up to date (${updater.name}: ${release.fullVersion} in ${release.where})`);
        continue;
      }
      if (!update) {
        changed++;
        out(`${where}: ${pkg.name} would be upgraded from ${pkg.version} to ${next} (${updater.name}: ${release.fullVersion} in ${release.where})\n`);
        continue;
      }
      if (!pkg.location) throw new TsdslError(`${pkg.name}: its definition's location is unknown, so it cannot be rewritten`);
      const patches = pkg.source?.kind === 'url' ? pkg.source.patches.length : 0;
      if (patches) warn(`${where}: ${pkg.name} has ${patches} patch${patches === 1 ? '' : 'es'} written for ${pkg.version}; check that they still apply to ${next}`);
      const { rewritePackage } = await import('../../edit/source.js');
      const from = pkg.version;
      let result: { changed: boolean };
      try {
        result = await rewritePackage(
          pkg.location,
          pkg.name,
          {
            version: next,
            sha256: release.source.sha256,
            urls: (old) => newUrls(old, from, release!, where),
            fileName: (old) => newFileName(old, from, release!),
            addFileName: addedFileName,
            properties: { debianVersion: release.fullVersion },
          },
          { dryRun },
        );
      } catch (e) {
        // Updating everything: one definition that cannot be rewritten does not stop the others.
        if (named.length || !(e instanceof TsdslError)) throw e;
        err(`tsdsl: error: ${e.message}`);
        failed++;
        continue;
      }
      if (result.changed) {
        changed++;
        if (!dryRun) edited.add(pkg.location.file);
        out(`${where}: ${pkg.name}: ${dryRun ? 'would update' : 'updated'} from version ${from} to version ${next}\n`);
      }
    }
    if (edited.size) for (const note of (await import('../../edit/source.js')).rebuildNotes(edited)) err(`tsdsl: note: ${note}`);
    if (changed === 0 && failed === 0 && named.length === 0) err('tsdsl: every package is up to date with the index, or unknown to it');
    return failed ? 1 : 0;
  },
};
