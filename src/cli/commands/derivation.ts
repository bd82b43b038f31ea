/**
 * `tsdsl derivation show`: derivations as JSON (like `nix derivation show`), of packages
 * (lowered, nothing written) or of store items (a `.drv` read from the store, or the
 * derivation that built an output).
 */
import { TsdslError, didYouMean } from '../../errors.js';
import type { LocalStore } from '../../store/store.js';
import type { Command } from '../command.js';
import { out } from '../command.js';
import { packageOptions } from '../packages.js';

/**
 * The JSON of the derivations the store-path words name: each `.drv` itself, or for an output
 * the derivation that built it; with `recursive`, their input derivations too (all read from
 * the store, where they must be).
 */
async function storeDerivations(store: LocalStore, items: ReadonlyArray<{ arg: string; paths: readonly string[] }>, recursive: boolean): Promise<Record<string, unknown>> {
  const { derivationJson } = await import('../../derivation/lower.js');
  const { parseStorePath } = await import('../../derivation/hash.js');
  const json: Record<string, unknown> = {};
  const read = (drvPath: string, why: string) => {
    if (!store.isValid(drvPath)) throw new TsdslError(`tsdsl derivation show: ${drvPath}${why ? ` (${why})` : ''} is not in the store at ${store.root}; write it with \`tsdsl build -d PACKAGE\`, or show the package instead`);
    let drv;
    try {
      drv = store.readDerivation(drvPath);
    } catch (e) {
      throw new TsdslError(`tsdsl derivation show: ${drvPath} cannot be read as a derivation: ${(e as Error).message}; \`tsdsl verify --check-contents\` checks the store`);
    }
    return { drvPath, name: parseStorePath(drvPath, store.storeDir).name.slice(0, -'.drv'.length), drv };
  };
  const stack: Array<[string, string]> = [];
  for (const { arg, paths } of items) {
    const p = paths[0]!;
    // Given as its path, the path says it all; given as a file or link, both are said.
    if (p.endsWith('.drv')) stack.push([p, arg === p ? '' : `given as ${arg}`]);
    else {
      if (!store.isValid(p)) throw new TsdslError(`tsdsl derivation show: ${p} is not a valid item of the store at ${store.root}; give a package, or a .drv path`);
      const deriver = store.queryPathInfo(p)?.deriver ?? store.queryDerivers(p)[0];
      if (!deriver) throw new TsdslError(`tsdsl derivation show: ${p} was not built from a derivation here (it was added or imported), so it has none to show`);
      stack.push([deriver, `the deriver of ${p}`]);
    }
  }
  // Depth-first over input derivations, each read once.
  while (stack.length) {
    const [drvPath, why] = stack.pop()!;
    if (drvPath in json) continue;
    const d = read(drvPath, why);
    Object.assign(json, derivationJson(d));
    if (recursive) for (const input of Object.keys(d.drv.inputDrvs)) stack.push([input, `an input of ${drvPath}`]);
  }
  return json;
}

export const command: Command = {
  name: 'derivation',
  summary: 'show the derivations of packages or store items',
  usage: 'tsdsl derivation show [OPTION]... PACKAGE-or-PATH...',
  details:
    'Prints the derivation of each PACKAGE as JSON, keyed by its .drv path: outputs, inputDrvs, inputSrcs,\n' +
    'system, builder, args and env — the model Nix and Guix share. Nothing is written to the store.\n' +
    'A store path instead of a package reads from the store at TSDSL_ROOT: a .drv path shows that\n' +
    'derivation, an output (or a link to one, such as ./result) the derivation that built it.\n' +
    'With --recursive, the derivations of every dependency too.',
  examples: [
    ['tsdsl derivation show hwloc', 'the derivation that builds hwloc'],
    ['tsdsl derivation show -r hwloc | jq \'keys | length\'', 'how many derivations hwloc needs'],
    ['tsdsl derivation show ./result', 'the derivation that built what ./result points at'],
    ['TSDSL_STORE_DIR=/nix/store tsdsl derivation show hwloc', 'paths computed for another store dir'],
  ],
  options: [
    { name: 'recursive', short: 'r', kind: 'boolean', description: 'include the derivations of all dependencies' },
    // Other commands print JSON with --json; here it is what is printed anyway.
    { name: 'json', kind: 'boolean', description: 'print JSON (what it prints anyway; accepted as other commands take it)' },
    ...packageOptions,
  ],
  async run(args) {
    const [sub, ...specs] = args.positionals;
    if (sub !== 'show') throw new TsdslError(`tsdsl derivation: ${sub ? `unknown subcommand \`${sub}\`${didYouMean(sub, ['show'])}` : 'no subcommand given'} (use \`tsdsl derivation show PACKAGE\`)`);
    if (specs.length === 0) throw new TsdslError('tsdsl derivation show: no package given; try `tsdsl derivation show hwloc`');
    const recursive = Boolean(args.values['recursive']);
    const json: Record<string, unknown> = {};
    // Package specs never contain a slash; words with one are store paths or links to them.
    const paths = specs.filter((s) => s.includes('/'));
    const packageSpecs = specs.filter((s) => !s.includes('/'));
    if (paths.length) {
      const { openStore } = await import('../../store/store.js');
      const { storeArguments } = await import('./gc.js');
      // Only read: another user's store (or a read-only one) is read, not refused.
      const store = openStore({ existing: true, readOnly: 'if-not-writable' });
      try {
        Object.assign(json, await storeDerivations(store, await storeArguments(args, store, paths, { command: 'derivation show', requireValid: false }), recursive));
      } finally {
        store.close();
      }
    }
    if (packageSpecs.length) {
      // `derivation show result`: a link named without `./` is said to be one, as `size` says it.
      const { packagesOrFiles } = await import('./gc.js');
      const { packages } = await packagesOrFiles(args, packageSpecs);
      const { lowerPackages, derivationJson } = await import('../../derivation/lower.js');
      const { lowerer, results } = await lowerPackages(packages);
      // With -r, one walk over every package's closure together, each derivation printed once
      // (a walk per package made `-r` of a hundred packages a hundred times the work).
      const list = recursive ? lowerer.closureOf(results.map((r) => r.drvPath)) : results.map((r) => r.derivation);
      for (const d of list) if (!(d.drvPath in json)) Object.assign(json, derivationJson(d));
    }
    out(JSON.stringify(json, null, 2) + '\n');
    return 0;
  },
};
