/** `tsdsl build`: compute derivations and write them to the store (`-d`), or build packages. */
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { out } from '../command.js';
import { packageOptions, packagesFrom } from '../packages.js';

export const command: Command = {
  name: 'build',
  summary: 'build packages, or write their derivations to the store',
  usage: 'tsdsl build [OPTION]... PACKAGE...',
  details:
    'With -d, computes the derivation of each PACKAGE (and of everything it depends on), writes the .drv\n' +
    'files, builder scripts and local sources into the store, and prints each .drv path. The store paths\n' +
    'are the ones Nix computes for the same derivations (TSDSL_STORE_DIR picks the store directory;\n' +
    'TSDSL_ROOT where the store lives on disk).',
  examples: [
    ['tsdsl build -d hwloc', 'write hwloc\'s derivation and print its .drv path'],
    ['tsdsl build -d mumps --with-input=scotch=pt-scotch', 'a different .drv; unchanged dependencies keep theirs'],
    ['TSDSL_STORE_DIR=/nix/store tsdsl build -d hwloc', 'paths computed for Nix\'s store directory'],
  ],
  options: [
    { name: 'derivations', short: 'd', kind: 'boolean', description: 'write the derivations and print their .drv paths; build nothing' },
    ...packageOptions,
  ],
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError('tsdsl build: no package given; try `tsdsl build -d hwloc`');
    const { packages } = await packagesFrom(args, args.positionals);
    if (!args.values['derivations']) {
      throw new TsdslError('tsdsl build: building from source is not available in this version yet; use `tsdsl build -d` to write derivations');
    }
    const { lowerPackages } = await import('../../derivation/lower.js');
    const { instantiate } = await import('../../derivation/instantiate.js');
    const { openStore } = await import('../../store/store.js');
    const { lowerer, results } = await lowerPackages(packages);
    const store = openStore();
    try {
      await instantiate(store, lowerer, results.map((r) => r.drvPath));
    } finally {
      store.close();
    }
    out(results.map((r) => r.drvPath).join('\n') + '\n');
    return 0;
  },
};
