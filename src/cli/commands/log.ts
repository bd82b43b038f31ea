/**
 * `tsdsl log`: print the build log of a package's derivation, of a `.drv`, or of the
 * derivation that built a store item, from `<root>/var/log` (gunzipped), as
 * `guix build --log-file` finds it.
 */
import { existsSync } from 'node:fs';
import { TsdslError } from '../../errors.js';
import type { LocalStore } from '../../store/store.js';
import type { Command } from '../command.js';
import { out, warn } from '../command.js';
import { commandWithPackageOptions, packageOptions } from '../packages.js';
import { storeArguments } from './gc.js';
import type { StoreArgument } from './gc.js';

/** The derivations whose log would describe `item`: its own, or those that produce its paths. */
function candidateDerivations(store: LocalStore, item: StoreArgument): string[] {
  if (item.drvPath) return [item.drvPath];
  const drvs: string[] = [];
  for (const p of item.paths) {
    if (p.endsWith('.drv')) drvs.push(p);
    else {
      const deriver = store.queryPathInfo(p)?.deriver;
      if (deriver) drvs.push(deriver);
      drvs.push(...store.queryDerivers(p));
    }
  }
  return [...new Set(drvs)];
}

export const command: Command = {
  name: 'log',
  summary: 'show the build log of packages or store items',
  usage: 'tsdsl log [OPTION]... PACKAGE-or-PATH...',
  details:
    'Prints the log of the build of each PACKAGE (of its derivation, with the transformation options\n' +
    'applied), of a .drv file, or of the derivation that built a store item. Logs are kept in\n' +
    '$TSDSL_ROOT/var/log, gzipped once the build succeeded. While the outputs are valid, the log is\n' +
    'that of the build that made them; otherwise that of the build in progress or the one that failed.\n' +
    'Several logs are each headed by a line `==> WORD <==`, as tail(1) heads several files.',
  examples: [
    ['tsdsl log hwloc', "hwloc's build log"],
    ['tsdsl log hwloc | grep -i warning', 'the warnings of that build'],
    ['tsdsl log hwloc zlib', 'two logs, each after a line `==> hwloc <==`'],
    ['tsdsl log /tsdsl/store/…-hwloc-2.9.0.drv', 'the log of a given derivation'],
    ['tsdsl log ./result', 'the log of the build that made the item ./result points at'],
  ],
  options: [...packageOptions],
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError('tsdsl log: no package or store path given; try `tsdsl log hwloc`');
    const { openStore } = await import('../../store/store.js');
    const { readLog } = await import('../../build/scheduler.js');
    // Only read: another user's store (or a read-only one) is read, not refused.
    const store = openStore({ existing: true, readOnly: 'if-not-writable' });
    try {
      const items = await storeArguments(args, store, args.positionals, { command: 'log', requireValid: false });
      for (const [i, item] of items.entries()) {
        let text: string | undefined;
        for (const drv of candidateDerivations(store, item)) {
          text = await readLog(store, drv);
          if (text !== undefined) break;
        }
        if (text === undefined) {
          const path = item.paths[0]!;
          const registered = !item.drvPath && store.isValid(path);
          if (registered && !existsSync(store.physicalPath(path))) {
            throw new TsdslError(`tsdsl log: no build log for ${path}, and it is registered, but its files are gone from ${store.root}/store; \`tsdsl verify\` lists what else is missing`);
          }
          // A .drv (written by `build -d`, say) none of whose outputs is in the store: not built yet.
          const unbuilt = registered && path.endsWith('.drv') && store.validAmong(Object.values(store.readDerivation(path).outputs).map((o) => o.path)).size === 0;
          throw new TsdslError(
            item.drvPath
              ? `tsdsl log: no build log for \`${item.arg}\`: it was not built here yet (${item.drvPath}); build it with \`${commandWithPackageOptions('build', args, [item.arg])}\``
              : unbuilt
                ? `tsdsl log: no build log for ${path}: it was not built here yet (none of its outputs is in the store); build its package with \`tsdsl build\``
                : !registered
                  ? `tsdsl log: no build log for ${path}: it is not a valid item of the store at ${store.root} (never built or added here, or collected; a file left by an interrupted write is not one)`
                  : `tsdsl log: no build log for ${path}: it was not built here (it was added or imported, or its log was deleted)`,
          );
        }
        // A builtin (unpacking a .deb, fetching a file) runs no build script: its log is empty.
        if (text === '') {
          const builtin = item.drvPath && store.isValid(item.drvPath) && store.readDerivation(item.drvPath).builder.startsWith('builtin:');
          warn(`the build of ${item.arg} wrote nothing to its log${builtin ? ' (a builtin builder, such as unpacking a Debian package or fetching a file, runs no build script)' : ': its build script printed nothing'}`);
        }
        // Several logs one after another: each headed, as tail(1) heads several files.
        if (items.length > 1) out(`${i ? '\n' : ''}==> ${item.arg} <==\n`);
        out(text);
      }
      return 0;
    } finally {
      store.close();
    }
  },
};
