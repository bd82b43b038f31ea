/** `tsdsl derivation show`: the derivations of packages, as JSON (like `nix derivation show`). */
import { TsdslError, didYouMean } from '../../errors.js';
import type { Command } from '../command.js';
import { out } from '../command.js';
import { packageOptions, packagesFrom } from '../packages.js';

export const command: Command = {
  name: 'derivation',
  summary: 'show the derivations of packages',
  usage: 'tsdsl derivation show [OPTION]... PACKAGE...',
  details:
    'Prints the derivation of each PACKAGE as JSON, keyed by its .drv path: outputs, inputDrvs, inputSrcs,\n' +
    'system, builder, args and env — the model Nix and Guix share. Nothing is written to the store.\n' +
    'With --recursive, the derivations of every dependency too.',
  examples: [
    ['tsdsl derivation show hwloc', 'the derivation that builds hwloc'],
    ['tsdsl derivation show -r hwloc | jq \'keys | length\'', 'how many derivations hwloc needs'],
    ['TSDSL_STORE_DIR=/nix/store tsdsl derivation show hwloc', 'paths computed for another store dir'],
  ],
  options: [{ name: 'recursive', short: 'r', kind: 'boolean', description: 'include the derivations of all dependencies' }, ...packageOptions],
  async run(args) {
    const [sub, ...specs] = args.positionals;
    if (sub !== 'show') throw new TsdslError(`tsdsl derivation: ${sub ? `unknown subcommand \`${sub}\`${didYouMean(sub, ['show'])}` : 'no subcommand given'} (use \`tsdsl derivation show PACKAGE\`)`);
    if (specs.length === 0) throw new TsdslError('tsdsl derivation show: no package given; try `tsdsl derivation show hwloc`');
    const { packages } = await packagesFrom(args, specs);
    const { lowerPackages, derivationJson } = await import('../../derivation/lower.js');
    const { lowerer, results } = await lowerPackages(packages);
    const json: Record<string, unknown> = {};
    for (const r of results) {
      const list = args.values['recursive'] ? lowerer.closureOf(r.drvPath) : [r.derivation];
      for (const d of list) Object.assign(json, derivationJson(d));
    }
    out(JSON.stringify(json, null, 2) + '\n');
    return 0;
  },
};
