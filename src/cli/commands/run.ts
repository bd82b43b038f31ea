/** `tsdsl run`: run a command from a pack, without root, through the first engine that works here. */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { TsdslError } from '../../errors.js';
import type { Command } from '../command.js';
import { out } from '../command.js';

export const command: Command = {
  name: 'run',
  summary: 'run a command from a pack without root (user namespaces, PRoot, Charliecloud, podman …)',
  usage: 'tsdsl run [OPTION]... PACK [-- COMMAND [ARG]...]',
  details:
    'PACK is a tarball made by `tsdsl pack` (unpacked once into ~/.cache/tsdsl/packs) or, for the image\n' +
    'engines, a docker archive or squashfs image. The command runs with the pack\'s profile as its\n' +
    'environment (PATH, LIBRARY_PATH, …) plus what -E and --preserve pass from yours. --engine=auto\n' +
    '(default) tries userns, charliecloud, apptainer, singularity, podman, docker, proot in that order;\n' +
    '--explain says which work here and why the others do not. The exit code is the command\'s.',
  examples: [
    ['tsdsl run hwloc-tarball-pack.tar.gz -- lstopo-no-graphics', 'unpack once, run inside it'],
    ['tsdsl run --engine=proot hwloc-tarball-pack.tar.gz -- lstopo-no-graphics', 'through PRoot'],
    ['tsdsl run --explain hwloc-tarball-pack.tar.gz', 'which engines work here, and why the others do not'],
    ['tsdsl run -C hwloc-tarball-pack.tar.gz -- lstopo-no-graphics', 'isolated: only the pack, /proc, /dev, /sys and the cwd'],
  ],
  options: [
    { name: 'engine', short: 'e', kind: 'string', arg: 'ENGINE', description: 'auto (default), userns, proot, charliecloud, podman, docker, apptainer, singularity' },
    { name: 'explain', kind: 'boolean', description: 'say which engines work here and why the others do not' },
    { name: 'container', short: 'C', kind: 'boolean', description: 'isolate: no $HOME, no host directories but the cwd' },
    { name: 'network', short: 'N', kind: 'boolean', description: 'with --container: keep the network' },
    { name: 'preserve', short: 'E', kind: 'string', multiple: true, arg: 'REGEX', description: 'pass the variables of your environment matching REGEX' },
    { name: 'expose', kind: 'string', multiple: true, arg: 'SRC[=DST]', description: 'show host directory SRC at DST, read-only' },
    { name: 'share', kind: 'string', multiple: true, arg: 'SRC[=DST]', description: 'show host directory SRC at DST, writable' },
  ],
  async run(args) {
    const { explainEngines, formatExplanation } = await import('../../run/diagnose.js');
    if (args.values['explain']) {
      out(formatExplanation(await explainEngines(), { descriptions: true }));
      return 0;
    }
    const [packFile, ...extra] = args.positionals;
    if (!packFile) throw new TsdslError('tsdsl run: no pack given; try `tsdsl run hwloc-tarball-pack.tar.gz -- lstopo-no-graphics`');
    const argv = [...extra, ...args.rest];
    if (argv.length === 0) argv.push('sh');
    const file = resolve(packFile);
    if (!existsSync(file)) throw new TsdslError(`tsdsl run: pack \`${packFile}\` does not exist`);
    const { findEngine, autoEngine, currentHost } = await import('../../run/engines.js');
    const { storeDirFromEnv } = await import('../../derivation/hash.js');
    const storeDir = storeDirFromEnv();
    const engineName = (args.values['engine'] as string | undefined) ?? 'auto';
    const host = currentHost();
    if (engineName !== 'auto') findEngine(engineName, host); // an unknown name fails before unpacking
    const isImage = /\.(squashfs|sif|img)$/.test(file) || (engineName !== 'auto' && ['podman', 'docker', 'apptainer', 'singularity'].includes(engineName));
    let root = '';
    const env: Record<string, string> = {};
    if (!isImage || statSync(file).isDirectory()) {
      const { unpackPack, profileOf } = await import('../../run/unpack.js');
      root = statSync(file).isDirectory() ? file : await unpackPack(file);
      const profile = profileOf(root, storeDir);
      if (profile) {
        const { profileSearchPaths } = await import('../../build/builtins.js');
        Object.assign(env, profileSearchPaths(resolve(root, `.${profile}`), profile));
      }
    }
    env['PATH'] = [env['PATH'], '/bin', '/usr/bin'].filter(Boolean).join(':');
    for (const v of ['TERM', 'HOME', 'USER', 'LOGNAME', 'DISPLAY', 'LANG']) if (process.env[v] !== undefined) env[v] ??= process.env[v]!;
    for (const re of (args.values['preserve'] as string[] | undefined) ?? []) {
      let r: RegExp;
      try {
        r = new RegExp(re);
      } catch {
        throw new TsdslError(`tsdsl run: --preserve=${re} is not a valid regular expression`);
      }
      for (const [k, v] of Object.entries(process.env)) if (r.test(k) && v !== undefined) env[k] = v;
    }
    const bind = (spec: string, writable: boolean) => {
      const i = spec.indexOf('=');
      const source = resolve(i < 0 ? spec : spec.slice(0, i));
      if (!existsSync(source)) throw new TsdslError(`tsdsl run: ${writable ? '--share' : '--expose'}=${spec}: \`${source}\` does not exist`);
      return { source, target: i < 0 ? source : spec.slice(i + 1), writable };
    };
    const binds = [
      ...((args.values['expose'] as string[] | undefined) ?? []).map((s) => bind(s, false)),
      ...((args.values['share'] as string[] | undefined) ?? []).map((s) => bind(s, true)),
    ];
    const spec = {
      root,
      storeDir,
      command: argv,
      env,
      binds,
      isolate: Boolean(args.values['container']),
      ...(args.values['network'] ? { network: true } : {}),
      ...(isImage ? { image: file } : {}),
    };
    const engine = engineName === 'auto' ? autoEngine(host) : findEngine(engineName, host);
    const ok = await engine.available();
    if (!ok.ok) {
      const explanation = formatExplanation(await explainEngines(host));
      throw new TsdslError(`the ${engine.name} engine cannot run here: ${ok.reason}\n${explanation.trim()}`);
    }
    return engine.run(spec);
  },
};
