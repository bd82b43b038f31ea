/** `tsdsl shell`: a shell (or a command) with packages from the store, built on demand. */
import { TsdslError, isTsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import type { EngineName } from '../../run/api.js';
import { warn } from '../command.js';
import { buildOptions, buildSettings, packageOptions, packagesFrom } from '../packages.js';
import { progressReporter } from '../progress.js';

export const command: Command = {
  name: 'shell',
  summary: 'run a shell or a command with packages from the store (built on demand), without root',
  usage: 'tsdsl shell [OPTION]... PACKAGE... [-- COMMAND [ARG]...]',
  details:
    'Builds what the store lacks, makes a profile of the packages, and runs COMMAND (default: $SHELL or\n' +
    'sh) with the profile first on PATH, LIBRARY_PATH, CPATH, … The store is mounted at its logical\n' +
    'directory in a user namespace; the host\'s file system stays visible unless --container, which\n' +
    'shows only the packages\' closure, /proc, /dev, /sys and the current directory. A PACKAGE may end\n' +
    'in one of its outputs, as in Guix (my-solver:doc): the profile holds that one.',
  examples: [
    ['tsdsl shell hwloc -- lstopo-no-graphics', 'run a program from a package'],
    ['tsdsl shell --container hwloc -- lstopo-no-graphics', 'only the closure visible'],
    ['tsdsl shell mumps --with-input=scotch=pt-scotch', 'an interactive shell, transformations honoured'],
    ['tsdsl shell -j2 --cores=2 hwloc openmpi -- mpirun --version', 'what is missing is built two at a time, two cores each'],
    ['tsdsl shell --pure hwloc coreutils -- env', 'nothing of your environment but TERM, HOME, USER and LOGNAME (env comes from coreutils: only the profile is on PATH)'],
    ['tsdsl shell -C -N hwloc coreutils -- cat /proc/net/dev', 'in a container, but with the host network'],
    ['tsdsl shell -C --expose=$HOME/data=/data -E "^SLURM_" hwloc coreutils -- ls /data', 'a read-only bind and the SLURM_* variables'],
  ],
  options: [
    { name: 'container', short: 'C', kind: 'boolean', description: 'isolate: only the closure, /proc, /dev, /sys and the cwd' },
    { name: 'network', short: 'N', kind: 'boolean', description: 'with --container: keep the network' },
    { name: 'pure', kind: 'boolean', description: 'start from an empty environment (but TERM, HOME, USER, LOGNAME)' },
    { name: 'preserve', short: 'E', kind: 'string', multiple: true, arg: 'REGEX', description: 'with --pure or --container: pass the variables of your environment matching REGEX' },
    { name: 'expose', kind: 'string', multiple: true, arg: 'SRC[=DST]', description: 'show host directory SRC at DST, read-only' },
    { name: 'share', kind: 'string', multiple: true, arg: 'SRC[=DST]', description: 'show host directory SRC at DST, writable' },
    { name: 'engine', short: 'e', kind: 'string', arg: 'ENGINE', description: 'auto (default: userns, else proot), userns or proot' },
    ...buildOptions,
    ...packageOptions,
  ],
  takesCommand: true,
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError('tsdsl shell: no package given; try `tsdsl shell hwloc -- lstopo-no-graphics`');
    // As in Guix: -N only means something in a container; -E only when the environment is emptied.
    if (args.values['network'] && !args.values['container']) {
      throw new TsdslError('tsdsl shell: -N/--network keeps the network in a container; without -C/--container the command has the network anyway (add -C, or drop -N)');
    }
    if ((args.values['preserve'] as string[] | undefined)?.length && !args.values['pure'] && !args.values['container']) {
      warn('-E/--preserve means nothing without --pure or -C/--container: every variable of yours is passed already');
    }
    const settings = buildSettings(args, 'shell');
    const { items } = await packagesFrom(args, args.positionals, undefined, { outputs: true }).catch((e: unknown) => {
      // `tsdsl shell hwloc lstopo-no-graphics`: a command where packages go.
      const word = isTsdslError(e) && args.rest.length === 0 ? /unknown package `([^`]+)`/.exec(e.message)?.[1] : undefined;
      const at = word === undefined ? -1 : args.positionals.indexOf(word);
      if (at < 1) throw e;
      const [before, after] = [args.positionals.slice(0, at), args.positionals.slice(at)].map((w) => w.join(' '));
      throw new TsdslError(`${(e as Error).message}; if \`${word}\` is the command to run, put it after \`--\` (\`tsdsl shell ${before} -- ${after}\`)`, { cause: e });
    });
    const { run } = await import('../../run/api.js');
    // The flags as given: run()'s messages name them (a request from code gets its fields said too).
    const { FROM_COMMAND_LINE } = await import('../../errors.js');
    const reporter = progressReporter();
    let closed = false;
    const close = (): void => {
      if (!closed) reporter.close();
      closed = true;
    };
    try {
      return await run({
        [FROM_COMMAND_LINE]: true,
        packages: items,
        command: args.rest,
        engine: ((args.values['engine'] as string | undefined) ?? 'auto') as EngineName, // checked by run()
        container: Boolean(args.values['container']),
        ...(args.values['network'] ? { network: true } : {}),
        pure: Boolean(args.values['pure']),
        preserve: (args.values['preserve'] as string[] | undefined) ?? [],
        expose: (args.values['expose'] as string[] | undefined) ?? [],
        share: (args.values['share'] as string[] | undefined) ?? [],
        ...settings,
        onEvent: (e) => reporter.event(e),
        onBuilt: close,
        onWarning: warn,
      });
    } finally {
      close();
    }
  },
};
