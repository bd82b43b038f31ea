/** `tsdsl run`: run a command from a pack, without root, through the first engine that works here. */
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import type { EngineName } from '../../run/api.js';
import { out } from '../command.js';

export const command: Command = {
  name: 'run',
  summary: 'run a command from a pack without root (user namespaces, PRoot, Charliecloud, podman …)',
  usage: 'tsdsl run [OPTION]... PACK [-- COMMAND [ARG]...]',
  details:
    'PACK is what `tsdsl pack` makes: a tarball, a docker-archive (-f docker) or a squashfs image\n' +
    '(-f squashfs), or a directory one was unpacked into. podman and docker run a docker-archive as it is,\n' +
    'apptainer a squashfs image; any other engine runs it unpacked, once and read-only, into\n' +
    '~/.cache/tsdsl/packs (`tsdsl gc --packs` reclaims that). The command (default: a docker pack\'s entry\n' +
    'point, a squashfs pack\'s runscript, else sh) runs with the pack\'s profile as its environment (PATH, LIBRARY_PATH, …) plus\n' +
    'TERM, HOME, USER, LOGNAME, DISPLAY, LANG and what -E/--preserve passes from yours. --engine=auto\n' +
    '(default) tries userns, charliecloud, apptainer, singularity, podman, docker, proot in that order;\n' +
    '--explain says which work here and why the others do not. The exit code is the command\'s.',
  examples: [
    ['tsdsl run hwloc-tarball-pack.tar.gz -- lstopo-no-graphics', 'unpack once, run inside it'],
    ['tsdsl run --engine=proot hwloc-tarball-pack.tar.gz -- lstopo-no-graphics', 'through PRoot'],
    ['tsdsl run --explain hwloc-tarball-pack.tar.gz', 'which engines work here, and why the others do not'],
    ['tsdsl run --explain --engine=proot', 'whether PRoot works here (exit 1 when it does not), and why'],
    ['tsdsl run -C hwloc-tarball-pack.tar.gz -- lstopo-no-graphics', 'isolated: only the pack, /proc, /dev, /sys and the cwd'],
    ['tsdsl run --engine=podman hwloc-docker-pack.tar -- lstopo-no-graphics', 'a docker-archive under rootless podman'],
    ['tsdsl run --engine=charliecloud hwloc-squashfs-pack.squashfs -- lstopo-no-graphics', 'a squashfs image, unpacked once for ch-run'],
    ['tsdsl run --share=$HOME/out=/out -E "^OMP_" pack.tar.gz -- app /out', 'a writable bind and the OMP_* variables'],
  ],
  options: [
    { name: 'engine', short: 'e', kind: 'string', arg: 'ENGINE', description: 'auto (default), userns, proot, charliecloud, podman, docker, apptainer, singularity' },
    { name: 'explain', kind: 'boolean', description: 'say which engines work here and why the others do not' },
    { name: 'container', short: 'C', kind: 'boolean', description: 'isolate: no host directories but the cwd, an empty private $HOME' },
    { name: 'network', short: 'N', kind: 'boolean', description: 'keep the network: in a container (-C), and under podman or docker, which cut it otherwise' },
    { name: 'preserve', short: 'E', kind: 'string', multiple: true, arg: 'REGEX', description: 'pass the variables of your environment matching REGEX' },
    { name: 'expose', kind: 'string', multiple: true, arg: 'SRC[=DST]', description: 'show host directory SRC at DST, read-only' },
    { name: 'share', kind: 'string', multiple: true, arg: 'SRC[=DST]', description: 'show host directory SRC at DST, writable' },
  ],
  takesCommand: true,
  async run(args) {
    if (args.values['explain']) {
      const { explainEngines, formatExplanation } = await import('../../run/diagnose.js');
      const name = args.values['engine'] as string | undefined;
      // With a pack: what it is, and which engines take it as it is (checked first: a pack
      // that does not exist is an error, not a diagnosis of the host).
      const packFile = args.positionals[0];
      const { explainPack } = await import('../../run/unpack.js');
      const { findEngine, runEngines } = await import('../../run/engines.js');
      const engines = name === undefined || name === 'auto' ? runEngines() : [findEngine(name)];
      const about = packFile === undefined ? '' : `${explainPack(packFile, engines.map((e) => e.name))}\n`;
      if (engines.length > 1) {
        out(formatExplanation(await explainEngines(undefined, engines), { descriptions: true }) + about);
        return 0;
      }
      // One engine: its diagnosis, and exit 1 when it cannot run here.
      const x = await explainEngines(undefined, engines);
      out(formatExplanation(x, { descriptions: true, single: true }) + about);
      return x.engines[0]!.ok ? 0 : 1;
    }
    const [pack, ...extra] = args.positionals;
    if (!pack) throw new TsdslError('tsdsl run: no pack given; try `tsdsl run hwloc-tarball-pack.tar.gz -- lstopo-no-graphics`');
    const { run } = await import('../../run/api.js');
    const { FROM_COMMAND_LINE } = await import('../../errors.js');
    return run({
      [FROM_COMMAND_LINE]: true,
      pack,
      command: [...extra, ...args.rest],
      engine: ((args.values['engine'] as string | undefined) ?? 'auto') as EngineName, // checked by run()
      container: Boolean(args.values['container']),
      ...(args.values['network'] ? { network: true } : {}),
      preserve: (args.values['preserve'] as string[] | undefined) ?? [],
      expose: (args.values['expose'] as string[] | undefined) ?? [],
      share: (args.values['share'] as string[] | undefined) ?? [],
    });
  },
};
