/** `tsdsl shell`: a shell (or a command) with packages from the store, built on demand. */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { packageOptions, packagesFrom } from '../packages.js';
import { progressReporter } from '../progress.js';

export const command: Command = {
  name: 'shell',
  summary: 'run a shell or a command with packages from the store (built on demand), without root',
  usage: 'tsdsl shell [OPTION]... PACKAGE... [-- COMMAND [ARG]...]',
  details:
    'Builds what the store lacks, makes a profile of the packages, and runs COMMAND (default: $SHELL or\n' +
    'sh) with the profile first on PATH, LIBRARY_PATH, CPATH, … The store is mounted at its logical\n' +
    'directory in a user namespace; the host\'s file system stays visible unless --container, which\n' +
    'shows only the packages\' closure, /proc, /dev, /sys and the current directory.',
  examples: [
    ['tsdsl shell hwloc -- lstopo-no-graphics', 'run a program from a package'],
    ['tsdsl shell --container hwloc -- lstopo-no-graphics', 'only the closure visible'],
    ['tsdsl shell mumps --with-input=scotch=pt-scotch', 'an interactive shell, transformations honoured'],
    ['tsdsl shell --pure hwloc -- env', 'nothing of your environment but TERM, HOME and USER'],
  ],
  options: [
    { name: 'container', short: 'C', kind: 'boolean', description: 'isolate: only the closure, /proc, /dev, /sys and the cwd' },
    { name: 'network', short: 'N', kind: 'boolean', description: 'with --container: keep the network' },
    { name: 'pure', kind: 'boolean', description: 'start from an empty environment (but TERM, HOME, USER)' },
    { name: 'engine', short: 'e', kind: 'string', arg: 'ENGINE', description: 'userns (default) or proot' },
    ...packageOptions,
  ],
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError('tsdsl shell: no package given; try `tsdsl shell hwloc -- lstopo-no-graphics`');
    const { packages } = await packagesFrom(args, args.positionals);
    const { Lowerer } = await import('../../derivation/lower.js');
    const { instantiate } = await import('../../derivation/instantiate.js');
    const { realise } = await import('../../build/scheduler.js');
    const { openStore } = await import('../../store/store.js');
    const { profileSearchPaths } = await import('../../build/builtins.js');
    const store = openStore();
    let profile: string;
    let closure: string[];
    try {
      const lowerer = new Lowerer(store.storeDir);
      await lowerer.prepare(packages);
      const p = lowerer.lowerProfile(packages);
      await instantiate(store, lowerer, [p.drvPath]);
      const reporter = progressReporter();
      try {
        await realise(store, lowerer, [p.drvPath], { cores: (await import('node:os')).availableParallelism(), onEvent: reporter.event });
      } finally {
        reporter.close();
      }
      profile = p.outputs['out']!;
      closure = store.queryRequisites([profile]);
    } finally {
      store.close();
    }
    const isolate = Boolean(args.values['container']);
    const env: Record<string, string> = {};
    if (!args.values['pure'] && !isolate) for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    for (const v of ['TERM', 'HOME', 'USER', 'LOGNAME']) if (process.env[v] !== undefined) env[v] = process.env[v]!;
    for (const [variable, value] of Object.entries(profileSearchPaths(store.physicalPath(profile), profile))) {
      env[variable] = env[variable] ? `${value}:${env[variable]}` : value;
    }
    if (isolate) env['PATH'] = `${env['PATH'] ?? `${profile}/bin`}:/bin`;
    env['TSDSL_PROFILE'] = profile;
    // The view: an empty root with the store items bound at their logical paths, and (unless
    // isolated) the host's top-level directories bound at their own.
    const root = mkdtempSync(join(tmpdir(), 'tsdsl-shell-'));
    mkdirSync(join(root, store.storeDir.replace(/^\//, '')), { recursive: true });
    symlinkSync(`${profile.replace(/^\//, '')}/bin`, join(root, 'bin'));
    const binds = closure.map((p) => ({ source: store.physicalPath(p), target: p, writable: false }));
    if (!isolate) {
      for (const name of readdirSync('/')) {
        if (['proc', 'dev', 'sys', 'tmp', 'bin'].includes(name) || store.storeDir.startsWith(`/${name}/`)) continue;
        binds.push({ source: `/${name}`, target: `/${name}`, writable: true });
      }
    }
    const argv = args.rest.length ? args.rest : [isolate ? 'sh' : (process.env['SHELL'] ?? 'sh')];
    const { findEngine, currentHost } = await import('../../run/engines.js');
    const engine = findEngine((args.values['engine'] as string | undefined) ?? 'userns', currentHost());
    const ok = await engine.available();
    if (!ok.ok) throw new TsdslError(`tsdsl shell: the ${engine.name} engine cannot run here: ${ok.reason} (see \`tsdsl run --explain\`)`);
    try {
      return await engine.run({
        root,
        storeDir: store.storeDir,
        command: argv,
        env,
        binds,
        isolate,
        ...(args.values['network'] ? { network: true } : {}),
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
};
