/** `tsdsl pack`: a reproducible bundle of packages and their whole closure. */
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { err, out, stdoutData, warn } from '../command.js';
import type { Package, ProfileItem } from '../../dsl/package.js';
import type { Collection } from '../../registry/collection.js';
import type { CompressionName, PackFormatName } from '../../pack/api.js';
import { refuseWith, type ParsedArgs } from '../options.js';
import { buildOptions, buildSettings, packageOptions, packagesFrom, resolveItemWords } from '../packages.js';
import { progressReporter, redraws } from '../progress.js';

export const command: Command = {
  name: 'pack',
  summary: 'make a reproducible bundle (tarball, Docker image, squashfs) of packages and their closure',
  usage: 'tsdsl pack [OPTION]... PACKAGE...   or   tsdsl pack [OPTION]... -m MANIFEST.ts',
  details:
    'Builds the packages if needed, makes their profile (one tree of links to every package, with\n' +
    'manifest.json and etc/profile), and writes the profile\'s closure — exactly the store items it\n' +
    'refers to — in the chosen format. The same packages give the same bytes. The last line printed is\n' +
    'the pack\'s path and size; on a terminal a progress line is shown while the pack is written.\n' +
    'A PACKAGE may end in one of its outputs, as in Guix (my-solver:doc): the profile holds that one.\n' +
    'Relocatable packs (-R, -RR): TSDSL_RELOCATABLE_ENGINE=userns|proot picks how their programs run.',
  examples: [
    ['tsdsl pack hwloc -S /bin=bin', 'hwloc-tarball-pack.tar.gz; then: mkdir ~/hw && tar xf … -C ~/hw && unshare -mrf /usr/sbin/chroot ~/hw /bin/lstopo-no-graphics'],
    ['tsdsl pack hwloc -S /bin=bin -C zstd', 'compressed with zstd (also xz, none)'],
    ['tsdsl pack -f docker --entry-point=bin/lstopo-no-graphics hwloc', 'a docker-archive for docker/podman load'],
    ['tsdsl pack -R hwloc -S /bin=bin', 'relocatable: tar xf it anywhere, then run ./bin/lstopo-no-graphics as a plain user'],
    ['tsdsl pack -RR hwloc -S /bin=bin', 'relocatable, falling back to PRoot where user namespaces are off'],
    ['tsdsl pack -f squashfs hwloc bash', 'a Singularity/Apptainer image'],
    ['tsdsl pack -m manifest.ts -S /bin=bin', 'the packages and transformations listed in a TypeScript manifest (export default defineManifest({...}))'],
    ['tsdsl pack --save-provenance hwloc', 'also record the collection\'s revision in the profile\'s manifest.json'],
    ['tsdsl pack -o - hwloc -S /bin=bin | ssh HOST tar -xzf - -C pack', 'write the pack to standard output'],
    ['tsdsl pack -d hwloc', 'print the profile\'s derivation without building'],
    ['tsdsl pack --json hwloc -S /bin=bin', 'the pack\'s file, size, sha256, profile and closure as JSON, for scripts'],
    ['tsdsl pack --list-formats', 'the formats'],
  ],
  options: [
    { name: 'format', short: 'f', kind: 'string', arg: 'FORMAT', description: 'tarball (default), docker, oci, squashfs (--list-formats)' },
    { name: 'compression', short: 'C', kind: 'string', arg: 'TOOL', description: 'gzip, xz, zstd or none (default: the format\'s)' },
    { name: 'symlink', short: 'S', kind: 'string', multiple: true, arg: 'LINK=TARGET', description: 'a link LINK in the pack to TARGET in the profile, e.g. /bin=bin' },
    { name: 'relocatable', short: 'R', kind: 'boolean', description: 'tarball: programs under -S links to bin run from any directory, no root; -RR adds PRoot' },
    { name: 'entry-point', kind: 'string', arg: 'PROGRAM', description: 'the image\'s entry point, relative to the profile (bin/…)' },
    { name: 'max-layers', kind: 'number', arg: 'N', description: 'docker/oci: split the closure into up to N layers by popularity' },
    { name: 'image-tag', kind: 'string', arg: 'NAME:TAG', description: 'docker/oci: the image reference' },
    { name: 'manifest', short: 'm', kind: 'string', multiple: true, arg: 'FILE', description: 'pack the packages listed by a TypeScript manifest file (see docs/cli.md)' },
    { name: 'save-provenance', kind: 'boolean', description: 'record the collection\'s revision (git commit or files hash) in the profile\'s manifest' },
    { name: 'output', short: 'o', kind: 'string', arg: 'FILE', description: 'write the pack to FILE (- for standard output)' },
    { name: 'derivation', short: 'd', kind: 'boolean', description: 'print the profile\'s derivation path and build nothing' },
    { name: 'list-formats', kind: 'boolean', description: 'list the pack formats and exit' },
    { name: 'json', kind: 'boolean', description: 'print {"file", "bytes", "sha256", "format", "profile", "closure"} (with -d, {"drvPath", "outputs"}) instead of the path' },
    ...buildOptions,
    ...packageOptions,
  ],
  async run(args) {
    const settings = buildSettings(args, 'pack');
    const { packFormats } = await import('../../pack/formats.js');
    if (args.values['list-formats']) {
      const w = Math.max(...packFormats.map((f) => f.name.length));
      out(['Available formats:', ...packFormats.map((f) => `  ${f.name.padEnd(w)}  ${f.description}`), ''].join('\n'));
      return 0;
    }
    if (args.values['derivation']) {
      // As build -d: nothing is built or written but the profile's .drv, so these mean nothing.
      const packing = ['max-jobs', 'cores', 'format', 'compression', 'symlink', 'relocatable', 'entry-point', 'max-layers', 'image-tag', 'output'];
      refuseWith(args, packing, 'tsdsl pack: -d writes the profile\'s derivation and builds nothing, so');
    }
    // An empty value is a slip (`--image-tag=$TAG` with TAG unset), not "the default".
    const examples: Record<string, string> = { 'image-tag': '--image-tag=hwloc:2.9', 'entry-point': '--entry-point=bin/lstopo', compression: '-C xz', format: '-f docker' };
    for (const [flag, example] of Object.entries(examples)) {
      if (args.values[flag] === '') throw new TsdslError(`tsdsl pack: --${flag} was given an empty value; give one (${example}), or leave the option out for the default`);
    }
    const manifests = (args.values['manifest'] as string[] | undefined) ?? [];
    if (args.positionals.length === 0 && manifests.length === 0) {
      throw new TsdslError('tsdsl pack: no package given; try `tsdsl pack hwloc -S /bin=bin` or `tsdsl pack -m manifest.ts`');
    }
    const { packages, items, collection, userPaths } = await packagesAndManifests(args, manifests);
    const provenance = args.values['save-provenance'] ? (await import('../../pack/manifest.js')).collectionRevision(userPaths) : undefined;
    if (args.values['derivation']) {
      const { lowerPackages } = await import('../../derivation/lower.js');
      const { instantiate } = await import('../../derivation/instantiate.js');
      const { openStore } = await import('../../store/store.js');
      const { lowerer } = await lowerPackages(packages);
      const profile = lowerer.lowerProfile(items, provenance ? { collectionRevision: provenance } : {});
      const store = openStore();
      try {
        await instantiate(store, lowerer, [profile.drvPath]);
      } finally {
        store.close();
      }
      out(args.values['json'] ? `${JSON.stringify({ drvPath: profile.drvPath, outputs: profile.outputs })}\n` : `${profile.drvPath}\n`);
      return 0;
    }
    const { pack, FROM_COMMAND_LINE } = await import('../../pack/api.js');
    // `-o -`: the pack is written to a temporary file, then copied to standard output.
    const toStdout = args.values['output'] === '-';
    if (toStdout && args.values['json']) {
      throw new TsdslError('--json prints the pack\'s record on standard output, where -o - writes the pack itself; give -o FILE with --json, or leave --json out');
    }
    if (toStdout && process.stdout.isTTY) {
      throw new TsdslError('-o -: standard output is a terminal; redirect it (`tsdsl pack -o - hwloc > hwloc.tar.gz`, or `| ssh HOST tar -xzf -`), or give -o FILE');
    }
    const stdoutPack = toStdout ? await temporaryPackFile() : undefined;
    const reporter = progressReporter();
    const format = (args.values['format'] as string | undefined) ?? 'tarball';
    const packing = packingProgress(format);
    let result;
    try {
      result = await pack({
        packages: items,
        collection,
        // The words as given: pack() checks them, with its messages naming the flags.
        [FROM_COMMAND_LINE]: true,
        format: format as PackFormatName,
        relocatable: args.ordered.filter((o) => o.name === 'relocatable' && o.value === true).length as 0 | 1 | 2,
        symlinks: (args.values['symlink'] as string[] | undefined) ?? [],
        ...(args.values['entry-point'] !== undefined ? { entryPoint: args.values['entry-point'] as string } : {}),
        ...(args.values['compression'] !== undefined ? { compression: args.values['compression'] as CompressionName } : {}),
        ...(args.values['max-layers'] !== undefined ? { maxLayers: args.values['max-layers'] as number } : {}),
        ...(args.values['image-tag'] !== undefined ? { imageTag: args.values['image-tag'] as string } : {}),
        ...(args.values['output'] !== undefined ? { output: stdoutPack?.file ?? (args.values['output'] as string) } : {}),
        ...settings,
        ...(provenance ? { provenance } : {}),
        onEvent: reporter.event,
        onWarning: warn,
        ...(packing.onProgress ? { onProgress: packing.onProgress } : {}),
      });
      if (stdoutPack) await stdoutPack.copyToStdout();
    } finally {
      packing.close();
      reporter.close();
      stdoutPack?.remove();
    }
    // As gc and size print sizes: a small pack is not `0.0 MiB`.
    const mib = (await import('./gc.js')).mib(result.size);
    if (stdoutPack) {
      err(`${result.closure.length} store items packed, ${mib} MiB written to standard output`);
      return 0;
    }
    err(`${result.closure.length} store items packed`);
    if (args.values['json']) {
      const { fileSha256 } = await import('../../store/nar.js');
      const { resolve } = await import('node:path');
      const record = { file: resolve(result.path), bytes: result.size, sha256: (await fileSha256(result.path)).toString('hex'), format, profile: result.profile, closure: result.closure };
      out(`${JSON.stringify(record)}\n`);
    } else out(`${result.path}\t${mib} MiB\n`);
    return 0;
  },
};

/**
 * A temporary file for a pack bound for standard output (in TMPDIR; removed on interrupt and
 * on exit, as when the reader stops early and tsdsl exits quietly), and how to copy it there.
 */
async function temporaryPackFile(): Promise<{ file: string; copyToStdout: () => Promise<void>; remove: () => void }> {
  const { createReadStream } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { pipeline } = await import('node:stream/promises');
  const { removeTree, trackTemporary } = await import('../../pack/compress.js');
  // Named by process, so that what a killed one left (kill -9 runs no clean-up) goes now.
  const dir = (await import('../../store/lock.js')).makeOwnedTempDir(tmpdir(), 'tsdsl-pack');
  const release = trackTemporary(dir);
  const file = join(dir, 'pack');
  return {
    file,
    async copyToStdout() {
      stdoutData.what = 'pack';
      await pipeline(createReadStream(file), process.stdout, { end: false });
      // Written when the last bytes are handed over: a reader stopping now got them all.
      stdoutData.what = undefined;
    },
    remove() {
      removeTree(dir);
      release();
    },
  };
}

/**
 * The packages to pack: the command line's specs and the manifests' packages (each manifest is
 * loaded like a `-L` file, so packages it defines join the collection), all with the command
 * line's transformation options applied after the manifests' own.
 */
async function packagesAndManifests(args: ParsedArgs, manifests: readonly string[]): Promise<{ packages: Package[]; items: ProfileItem[]; collection: Collection; userPaths: string[] }> {
  const { existsSync, statSync } = await import('node:fs');
  for (const m of manifests) {
    const st = existsSync(m) ? statSync(m) : undefined;
    if (st?.isDirectory()) throw new TsdslError(`-m ${m}: is a directory; give the manifest file itself (a .ts file with \`export default defineManifest({ packages: ['hwloc'] })\`)`);
    if (!st?.isFile()) throw new TsdslError(`-m ${m}: no such manifest file; write one with \`export default defineManifest({ packages: ['hwloc'] })\``);
  }
  const loadPath = (args.values['load-path'] as string[] | undefined) ?? [];
  const env = process.env['TSDSL_PACKAGE_PATH'];
  const { delimiter } = await import('node:path');
  const userPaths = [...loadPath, ...(env ? env.split(delimiter).filter(Boolean) : []), ...manifests];
  // Without manifests, as other commands: only the package files defining the packages named.
  if (manifests.length === 0) return { ...(await packagesFrom(args, args.positionals, undefined, { outputs: true })), userPaths };
  const { loadCollection } = await import('../../registry/load.js');
  const collection = await loadCollection({ loadPath: [...loadPath, ...manifests], manifests });
  collection.forCommandLine = true;
  // The command line's packages and the manifests' together, then the command line's
  // transformations once over all of them (so "had no effect" speaks of all of them).
  const { loadManifest } = await import('../../pack/manifest.js');
  const { applyTransformOptions } = await import('../../transform/options.js');
  const { itemPackage, withItemPackages } = await import('../../dsl/package.js');
  const roots = resolveItemWords(collection, args.positionals);
  for (const m of manifests) roots.push(...(await loadManifest(m, collection, warn)).packages);
  const packages = await applyTransformOptions(roots.map(itemPackage), args.ordered, collection, { warn });
  return { packages, items: withItemPackages(roots, packages), collection, userPaths };
}

/** A redrawn `packing NN%` line on a TTY (nothing otherwise; the last line says where the pack is). */
function packingProgress(format: string): { onProgress?: (done: number, total: number) => void; close(): void } {
  const stream = process.stderr;
  if (!redraws(stream)) return { close() {} };
  let last = 0;
  let drawn = false;
  const mib = (n: number): string => `${(n / (1 << 20)).toFixed(1)} MiB`;
  return {
    onProgress(done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      drawn = true;
      const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
      const size = format === 'squashfs' ? '' : ` (${mib(done)} of ${mib(total)})`;
      stream.write(`\r\x1b[Kpacking ${format}: ${pct}%${size}`);
    },
    close() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
