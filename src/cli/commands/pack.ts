/** `tsdsl pack`: a reproducible bundle of packages and their whole closure. */
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { err, out, warn } from '../command.js';
import { packageOptions, packagesFrom } from '../packages.js';
import { progressReporter } from '../progress.js';

export const command: Command = {
  name: 'pack',
  summary: 'make a reproducible bundle (tarball, Docker image, squashfs) of packages and their closure',
  usage: 'tsdsl pack [OPTION]... PACKAGE...',
  details:
    'Builds the packages if needed, makes their profile (one tree of links to every package, with\n' +
    'manifest.json and etc/profile), and writes the profile\'s closure — exactly the store items it\n' +
    'refers to — in the chosen format. The same packages give the same bytes. The last line printed is\n' +
    'the pack\'s path and size.',
  examples: [
    ['tsdsl pack hwloc -S /bin=bin', 'hwloc-tarball-pack.tar.gz; then: tar xf … -C ~/.local && unshare -mrf chroot ~/.local /bin/lstopo-no-graphics'],
    ['tsdsl pack hwloc -S /bin=bin -C zstd', 'compressed with zstd (also xz, none)'],
    ['tsdsl pack -f docker --entry-point=bin/lstopo-no-graphics hwloc', 'a docker-archive for docker/podman load'],
    ['tsdsl pack -R hwloc -S /bin=bin', 'relocatable: tar xf it anywhere, then run ./bin/lstopo-no-graphics as a plain user'],
    ['tsdsl pack -RR hwloc -S /bin=bin', 'relocatable, falling back to PRoot where user namespaces are off'],
    ['tsdsl pack -f squashfs hwloc bash', 'a Singularity/Apptainer image'],
    ['tsdsl pack -d hwloc', 'print the profile\'s derivation without building'],
    ['tsdsl pack --list-formats', 'the formats'],
  ],
  options: [
    { name: 'format', short: 'f', kind: 'string', arg: 'FORMAT', description: 'tarball (default), docker, oci, squashfs (--list-formats)' },
    { name: 'compression', short: 'C', kind: 'string', arg: 'TOOL', description: 'gzip, xz, zstd or none (default: the format\'s)' },
    { name: 'symlink', short: 'S', kind: 'string', multiple: true, arg: 'LINK=TARGET', description: 'a link LINK in the pack to TARGET in the profile, e.g. /bin=bin' },
    { name: 'relocatable', short: 'R', kind: 'boolean', description: 'tarball: wrap the programs of -S links to run from any directory without root (user namespaces); -RR also carries PRoot as a fallback' },
    { name: 'entry-point', kind: 'string', arg: 'PROGRAM', description: 'the image\'s entry point, relative to the profile (bin/…)' },
    { name: 'max-layers', kind: 'number', arg: 'N', description: 'docker/oci: split the closure into up to N layers by popularity' },
    { name: 'image-tag', kind: 'string', arg: 'NAME:TAG', description: 'docker/oci: the image reference' },
    { name: 'output', short: 'o', kind: 'string', arg: 'FILE', description: 'write the pack to FILE' },
    { name: 'derivation', short: 'd', kind: 'boolean', description: 'print the profile\'s derivation path and build nothing' },
    { name: 'list-formats', kind: 'boolean', description: 'list the pack formats and exit' },
    { name: 'max-jobs', short: 'j', kind: 'number', arg: 'N', description: 'run up to N builds at once' },
    { name: 'cores', short: 'c', kind: 'number', arg: 'N', description: 'cores per build' },
    ...packageOptions,
  ],
  async run(args) {
    const { packFormats } = await import('../../pack/formats.js');
    if (args.values['list-formats']) {
      const w = Math.max(...packFormats.map((f) => f.name.length));
      out(['Available formats:', ...packFormats.map((f) => `  ${f.name.padEnd(w)}  ${f.description}`), ''].join('\n'));
      return 0;
    }
    if (args.positionals.length === 0) throw new TsdslError('tsdsl pack: no package given; try `tsdsl pack hwloc -S /bin=bin`');
    const { packages, collection } = await packagesFrom(args, args.positionals);
    if (args.values['derivation']) {
      const { lowerPackages } = await import('../../derivation/lower.js');
      const { instantiate } = await import('../../derivation/instantiate.js');
      const { openStore } = await import('../../store/store.js');
      const { lowerer } = await lowerPackages(packages);
      const profile = lowerer.lowerProfile(packages);
      const store = openStore();
      try {
        await instantiate(store, lowerer, [profile.drvPath]);
      } finally {
        store.close();
      }
      out(`${profile.drvPath}\n`);
      return 0;
    }
    const { pack } = await import('../../pack/api.js');
    const reporter = progressReporter();
    let result;
    try {
      result = await pack({
        packages,
        collection,
        format: (args.values['format'] as string | undefined) ?? 'tarball',
        relocatable: args.ordered.filter((o) => o.name === 'relocatable' && o.value === true).length,
        symlinks: (args.values['symlink'] as string[] | undefined) ?? [],
        ...(args.values['entry-point'] ? { entryPoint: args.values['entry-point'] as string } : {}),
        ...(args.values['compression'] ? { compression: args.values['compression'] as string } : {}),
        ...(args.values['max-layers'] !== undefined ? { maxLayers: args.values['max-layers'] as number } : {}),
        ...(args.values['image-tag'] ? { imageTag: args.values['image-tag'] as string } : {}),
        ...(args.values['output'] ? { output: args.values['output'] as string } : {}),
        ...(args.values['max-jobs'] !== undefined ? { maxJobs: args.values['max-jobs'] as number } : {}),
        ...(args.values['cores'] !== undefined ? { cores: args.values['cores'] as number } : {}),
        onEvent: reporter.event,
        onWarning: warn,
      });
    } finally {
      reporter.close();
    }
    const mib = (result.size / (1 << 20)).toFixed(1);
    err(`${result.closure.length} store items packed`);
    out(`${result.path}\t${mib} MiB\n`);
    return 0;
  },
};
