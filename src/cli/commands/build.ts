/** `tsdsl build`: build packages from source in the rootless sandbox, or write their derivations (`-d`). */
import type { Lowerer } from '../../derivation/lower.js';
import { TsdslError, interruptedError } from '../../errors.js';
import { holdSignals } from '../../signals.js';
import type { LocalStore } from '../../store/store.js';
import type { Command } from '../command.js';
import { refuseWith, type ParsedArgs } from '../options.js';
import { err, out } from '../command.js';
import { buildOptions, buildSettings, commandWithPackageOptions, packageOptions, packagesFrom } from '../packages.js';
import { inCache, progressReporter } from '../progress.js';

export const command: Command = {
  name: 'build',
  summary: 'build packages, or write their derivations to the store',
  usage: 'tsdsl build [OPTION]... PACKAGE...',
  details:
    'Builds each PACKAGE and everything it depends on that is not in the store yet, from source, in a\n' +
    'rootless sandbox that sees only the declared inputs, and prints the output paths. Builds run in\n' +
    'dependency order, --max-jobs at a time. With -d, only writes the derivations (.drv files) and prints\n' +
    'their paths. TSDSL_ROOT says where the store lives (default ~/.local/share/tsdsl), TSDSL_STORE_DIR\n' +
    'its logical directory (default /tsdsl/store). A PACKAGE may end in one of its outputs, as in Guix\n' +
    '(my-solver:doc): that output is the one printed.',
  examples: [
    ['tsdsl build hwloc', 'fetch, unpack, patch, configure, make, make check, install; print the output path'],
    ['tsdsl build hwloc zlib xz -j2 --cores=2', 'two builds at a time, two cores each'],
    ['tsdsl build --dry-run hwloc', 'what would be fetched and built'],
    ['tsdsl build -K hwloc', 'keep the build tree of a failed build and say where'],
    ['tsdsl build --check hwloc', 'rebuild and compare bit for bit with the store'],
    ['tsdsl build -r ./result hwloc', 'also make ./result a garbage-collector root pointing at the output'],
    ['tsdsl build -d hwloc', 'write hwloc\'s derivation and print its .drv path'],
    ['tsdsl build -S hwloc', 'its source only: the tarball (an unpacked, patched tree when it has patches)'],
    ['tsdsl build --json hwloc | jq -r \'.[0].outputs.out\'', 'the output path, from JSON for scripts'],
  ],
  options: [
    { name: 'derivations', short: 'd', kind: 'boolean', description: 'write the derivations and print their .drv paths; build nothing' },
    { name: 'source', short: 'S', kind: 'boolean', description: 'build the source only: the fetched file as it is, or, when the source has patches, the unpacked and patched tree' },
    { name: 'dry-run', short: 'n', kind: 'boolean', description: 'print what would be fetched and built, and stop (the .drv files are written, as with -d)' },
    ...buildOptions,
    { name: 'keep-failed', short: 'K', kind: 'boolean', description: 'keep the build tree of a failed build' },
    { name: 'keep-going', short: 'k', kind: 'boolean', description: 'go on building what does not depend on a failed build' },
    { name: 'check', kind: 'boolean', description: 'rebuild packages already in the store and compare the results bit for bit' },
    { name: 'rounds', kind: 'number', arg: 'N', description: 'build N times and compare the results bit for bit' },
    { name: 'root', short: 'r', kind: 'string', arg: 'FILE', description: 'make FILE a symlink to the output (with -d, to the .drv) and a garbage-collector root' },
    { name: 'timeout', kind: 'number', arg: 'SECONDS', description: 'kill a build that runs longer than this' },
    { name: 'max-silent-time', kind: 'number', arg: 'SECONDS', description: 'kill a build that prints nothing for this long' },
    { name: 'quiet', short: 'q', kind: 'boolean', description: 'print only the output paths' },
    { name: 'json', kind: 'boolean', description: 'print [{"spec", "package", "version", "drvPath", "outputs": {NAME: PATH}}] (with -n, {"build", "check", "download"}) instead of paths' },
    ...packageOptions,
  ],
  async run(args) {
    if (args.positionals.length === 0) throw new TsdslError('tsdsl build: no package given; try `tsdsl build hwloc`');
    const rounds = args.values['rounds'] as number | undefined;
    if (rounds !== undefined && rounds < 1) throw new TsdslError('tsdsl build: --rounds must be 1 or more');
    for (const limit of ['timeout', 'max-silent-time']) {
      const seconds = args.values[limit] as number | undefined;
      if (seconds !== undefined && !(seconds > 0)) throw new TsdslError(`tsdsl build: --${limit}=${seconds}: give a number of seconds, more than 0 (leave the option out for no limit)`);
    }
    if (args.values['derivations']) {
      const building = ['dry-run', 'check', 'rounds', 'keep-failed', 'keep-going', 'timeout', 'max-silent-time', 'max-jobs', 'cores'];
      refuseWith(args, building, 'tsdsl build: -d writes derivations and builds nothing, so');
    }
    // A dry run makes nothing: a root it would not make is said, not silently skipped.
    if (args.values['dry-run']) refuseWith(args, ['root'], 'tsdsl build: -n builds nothing, so');
    if (args.values['root'] !== undefined) await checkRootFile(args.values['root'] as string);
    const settings = buildSettings(args, 'build');
    const { packages, items } = await packagesFrom(args, args.positionals, undefined, { outputs: true });
    const { isPackageOutput, itemOutputs } = await import('../../dsl/package.js');
    const { joinVariantWords } = await import('../../registry/spec.js');
    if (args.values['source']) {
      const i = items.findIndex(isPackageOutput);
      const spec = joinVariantWords(args.positionals)[i]?.trim();
      const bare = spec?.slice(0, spec.lastIndexOf(':'));
      if (i >= 0) throw new TsdslError(`tsdsl build -S: \`${spec}\` names an output, and a source has none; write \`${bare}\``);
    }
    const { lowerPackages, Lowerer } = await import('../../derivation/lower.js');
    const { addItems, instantiate } = await import('../../derivation/instantiate.js');
    const { openStore } = await import('../../store/store.js');
    const store = openStore();
    // Big graphs: a worker thread creates the .drv files while lowering runs (drv-files.ts).
    const files = store.derivationFiles();
    const lowerer = new Lowerer(store.storeDir);
    lowerer.onDerivation = (path, bytes) => files.add(path, bytes);
    // Ctrl-C, kill or a closed terminal while the derivations are computed and written: the
    // .drv files made so far, never registered, are removed (files.abort()), as after an error,
    // and the command says it was interrupted. Lowering runs without yielding, so a signal
    // during it is handled as it ends; one during a wait (a download to hash), at once.
    const writing = holdSignals((signal) => {
      const said = interruptedError(signal);
      try {
        files.abort();
        store.close();
        err(`tsdsl: error: ${said.message}`);
      } finally {
        // Even with no terminal left to say it to (SIGHUP), the status is the signal's.
        process.exit(said.exitCode);
      }
    });
    try {
      const { results: lowered } = await lowerPackages(packages, { lowerer });
      await writing.pending();
      // With -S the "packages" are their sources: the fetched file, or the patched tree.
      // An output asked for (`hwloc:lib`) is the one printed, rooted and checked: the
      // derivation builds all of its outputs, as in Nix and Guix.
      const results = args.values['source']
        ? packages.map((p) => {
            const s = lowerer.lowerSource(p);
            return { drvPath: s.drvPath, outputs: { out: s.path } };
          })
        : lowered.map((r, i) => (isPackageOutput(items[i]) ? { ...r, outputs: itemOutputs(items[i]!, r.outputs) } : r));
      const roots = results.flatMap((r) => (r.drvPath ? [r.drvPath] : []));
      // --json: one record per package given, in order (Nix's `build --json`, with the package).
      const json = Boolean(args.values['json']);
      // The argument as given (`mumps~metis`, which tells apart records of one package), else the name.
      const specs = packages.length === args.positionals.length ? args.positionals : packages.map((p) => p.name);
      const records = (keep: (r: (typeof results)[number]) => boolean = () => true) =>
        JSON.stringify(packages.flatMap((p, i) => (keep(results[i]!) ? [{ spec: specs[i], package: p.name, version: p.version, drvPath: results[i]!.drvPath ?? null, outputs: results[i]!.outputs }] : []))) + '\n';
      await instantiate(store, lowerer, roots, files);
      // -S of a local source with no patch: its store item, which no derivation makes.
      if (args.values['source']) {
        const items = new Set(results.flatMap((r) => (r.drvPath ? [] : Object.values(r.outputs))));
        if (items.size) await addItems(store, lowerer, items);
      }
      await writing.pending();
      writing.end();
      const root = args.values['root'] as string | undefined;
      if (args.values['derivations']) {
        // A local source (-S) has no derivation: its store item stands for it.
        // (instantiate and addItems refused registered items whose files are gone.)
        const printed = results.map((r) => r.drvPath ?? Object.values(r.outputs)[0]!);
        // As in Guix, -r with -d roots the derivation.
        if (root) await makeRoots(store, printed, root);
        out(json ? records() : printed.join('\n') + '\n');
        return 0;
      }
      const paths = results.flatMap((r) => Object.values(r.outputs));
      // --check compares a rebuild with the store: as Nix's, it refuses what is not there, before
      // building it (and its whole closure) with nothing to compare it with.
      if (args.values['check']) {
        const valid = store.validAmong(paths);
        // The words the user gave for them (one a package), else the packages' names.
        const unbuilt = specs.filter((_, i) => Object.values(results[i]?.outputs ?? {}).some((o) => !valid.has(o)));
        if (unbuilt.length) {
          const them = unbuilt.length === 1 ? `\`${unbuilt[0]}\` is` : `${unbuilt.map((u) => `\`${u}\``).join(', ')} are`;
          throw new TsdslError(`tsdsl build --check: ${them} not built, so there is nothing to compare a rebuild with; build ${unbuilt.length === 1 ? 'it' : 'them'} first (\`${commandWithPackageOptions('build', args, unbuilt)}\`), then check`);
        }
      }
      if (args.values['dry-run']) {
        const { inDownloadCache, missingDerivations } = await import('../../build/scheduler.js');
        const missing = missingDerivations(store, lowerer, roots);
        const fetch = missing.filter((d) => d.drv.outputs['out']?.hashAlgo);
        const build = missing.filter((d) => !d.drv.outputs['out']?.hashAlgo);
        const lines: string[] = [];
        const times = rounds !== undefined && rounds > 1 ? ` (each ${rounds} times, compared bit for bit)` : '';
        if (build.length) lines.push(`${build.length} derivation${build.length > 1 ? 's' : ''} would be built${times}:`, ...build.map((d) => `   ${d.drvPath}`));
        // --check (refused above for what is not built) and --rounds rebuild what is in the store.
        const again = args.values['check'] || times ? roots.filter((r) => !build.some((d) => d.drvPath === r)) : [];
        if (again.length) {
          const n = args.values['check'] ? Math.max(1, (rounds ?? 2) - 1) : rounds! - 1;
          lines.push(`${again.length} derivation${again.length > 1 ? 's' : ''} in the store would be built again${n > 1 ? ` ${n} times` : ''} and compared bit for bit with it:`, ...again.map((r) => `   ${r}`));
        }
        // Those in the download cache are copied from there, not fetched: marked. A wrong cache
        // setting (a relative TSDSL_DOWNLOAD_CACHE) is said now, as the downloads would say it.
        if (fetch.length) (await import('../../build/fetch.js')).defaultDownloadCache();
        const cached = new Set(fetch.filter(inDownloadCache));
        const urlOf = (d: (typeof fetch)[number]): string | undefined => d.drv.env['url'] ?? d.drv.env['urls'];
        if (fetch.length) {
          lines.push(
            `${fetch.length} file${fetch.length > 1 ? 's' : ''} would be downloaded${inCache(cached.size, fetch.length)}:`,
            ...fetch.map((d) => `   ${urlOf(d) ?? d.name}${cached.has(d) ? ' (in the download cache)' : ''}`),
          );
        }
        if (!lines.length) lines.push('nothing to be built or downloaded');
        err(lines.join('\n'));
        if (json) {
          const download = fetch.map((d) => ({ drvPath: d.drvPath, url: urlOf(d) ?? null, cached: cached.has(d) }));
          // `check` whenever a rebuild was asked for (empty when nothing is in the store yet).
          out(JSON.stringify({ build: build.map((d) => d.drvPath), ...(args.values['check'] || times ? { check: again } : {}), download }) + '\n');
        }
        return 0;
      }
      // Everything already built (the common case of a re-run): the scheduler is not even loaded.
      const upToDate = !args.values['check'] && rounds === undefined && store.validAmong(paths).size === new Set(paths).size;
      if (!upToDate) {
        try {
          await realiseWithProgress(store, lowerer, roots, args, settings);
        } catch (e) {
          // -k: the outputs of the packages that were built are printed before the error.
          const valid = store.validAmong(paths);
          if (args.values['keep-going'] && valid.size) out(json ? records((r) => Object.values(r.outputs).every((o) => valid.has(o))) : paths.filter((p) => valid.has(p)).join('\n') + '\n');
          throw e;
        }
      }
      await checkPrintedExist(store, paths);
      // One root per package (its first output): FILE, FILE-2, FILE-3, … as Nix names them.
      if (root) await makeRoots(store, results.map((r) => Object.values(r.outputs)[0]!), root);
      out(json ? records() : paths.join('\n') + '\n');
      return 0;
    } finally {
      // Failed while a signal waited (a child such as git got the terminal's Ctrl-C too, and
      // its failure came first): the interruption is what is said.
      if (writing.active) await writing.pending();
      writing.end();
      lowerer.onDerivation = undefined;
      files.abort();
      store.close();
    }
  },
};

/** `-r FILE`: FILE, FILE-2, … symlinks to the store items `paths`, each a garbage-collector root. */
async function makeRoots(store: LocalStore, paths: readonly string[], file: string): Promise<void> {
  for (let i = 0; i < paths.length; i++) await makeRoot(store, paths[i]!, i === 0 ? file : `${file}-${i + 1}`);
}

/** `-r FILE` names a file that is not a link: it is never replaced. */
const notALink = (file: string) => new TsdslError(`--root ${file}: the file exists and is not a symbolic link; remove it or choose another name`);

/** Checks before anything is built that `-r FILE` can be made: its directory exists and is writable (as `-o FILE` of pack). */
async function checkRootFile(file: string): Promise<void> {
  const { resolve } = await import('node:path');
  const { lstatSync } = await import('node:fs');
  const { checkDestination } = await import('../../pack/compress.js');
  checkDestination(resolve(file), '-r FILE');
  // A file that is not a link would be refused after the build (it is never replaced): say so now.
  let isFile = false;
  try {
    isFile = !lstatSync(resolve(file)).isSymbolicLink();
  } catch {
    // absent: it will be made
  }
  if (isFile) throw notALink(file);
}

/** Makes `file` a symlink to the store item `path` and a garbage-collector root (`-r FILE`). */
async function makeRoot(store: LocalStore, path: string, file: string): Promise<void> {
  const { resolve } = await import('node:path');
  const { symlinkSync, rmSync, lstatSync } = await import('node:fs');
  const abs = resolve(file);
  try {
    if (lstatSync(abs).isSymbolicLink()) rmSync(abs);
    else throw notALink(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  symlinkSync(store.physicalPath(path), abs);
  store.addRoot(path, abs);
}

/** Builds what ROOTS need, with the progress display and Ctrl-C handling of the command line. */
async function realiseWithProgress(store: LocalStore, lowerer: Lowerer, roots: readonly string[], args: ParsedArgs, settings: { maxJobs: number; cores: number }): Promise<void> {
  const rounds = args.values['rounds'] as number | undefined;
  const { realise } = await import('../../build/scheduler.js');
  const reporter = progressReporter({ quiet: Boolean(args.values['quiet']) });
  const controller = new AbortController();
  // Ctrl-C, kill, and a closed terminal or dropped ssh (SIGHUP): each stops the builds cleanly,
  // and the exit status is 128 + the signal's number, as a shell reports a killed command.
  // Only the first: a second one ends tsdsl at once, should stopping the builds hang (what it
  // leaves is cleaned up as after a kill -9).
  const interrupts = holdSignals(() => {
    controller.abort();
    interrupts.end();
  });
  let built: readonly string[] = [];
  let checked: readonly string[] = [];
  const active = new Map<string, string>();
  const downloads = new Set<string>();
  try {
    ({ built, checked } = await realise(store, lowerer, roots, {
      ...settings,
      keepFailed: Boolean(args.values['keep-failed']),
      keepGoing: Boolean(args.values['keep-going']),
      check: Boolean(args.values['check']),
      ...(rounds !== undefined ? { rounds } : {}),
      ...(args.values['timeout'] !== undefined ? { timeoutMs: (args.values['timeout'] as number) * 1000 } : {}),
      ...(args.values['max-silent-time'] !== undefined ? { maxSilentMs: (args.values['max-silent-time'] as number) * 1000 } : {}),
      onEvent: (e) => {
        // Which builds and downloads run, to say which an interrupt stopped.
        if (e.kind === 'plan') for (const d of e.fetch) downloads.add(d);
        else if (e.kind === 'start') active.set(e.drvPath, e.name);
        else if (e.kind === 'done' || e.kind === 'fail') active.delete(e.drvPath);
        reporter.event(e);
      },
      signal: controller.signal,
    }));
  } catch (e) {
    // Whatever failed once interrupted (a build, or a tar unpacking the bootstrap, which got the
    // terminal's SIGINT too, maybe before tsdsl's handler ran) failed because of the
    // interruption: say that, with one exit code.
    await interrupts.pending();
    if (!controller.signal.aborted) throw e;
  } finally {
    reporter.close();
    interrupts.end();
  }
  if (controller.signal.aborted) {
    const e = interruptedError(interrupts.received);
    if (active.size === 0) throw e;
    // The builds it stopped, and where their logs (which say so at their end) are; the downloads.
    const { logPath } = await import('../../build/scheduler.js');
    const running = [...active];
    const building = running.filter(([d]) => !downloads.has(d)).map(([drvPath, name]) => `${name} (log: ${logPath(store, drvPath)})`);
    const fetching = running.filter(([d]) => downloads.has(d)).map(([, name]) => name);
    const what = [...(fetching.length ? [`downloading ${fetching.join(', ')}`] : []), ...(building.length ? [`building ${building.join(', ')}`] : [])].join(' and ');
    throw new TsdslError(`${e.message.replace(/;/, ` while ${what};`)}`, { exitCode: e.exitCode });
  }
  // A comparison that found no difference says so (a difference is an error); a package that
  // was not in the store was built, with nothing to compare it to.
  if (args.values['quiet']) return;
  const count = (xs: readonly unknown[]) => `${xs.length} build${xs.length === 1 ? '' : 's'}`;
  const fresh = roots.filter((r) => built.includes(r) && !checked.includes(r));
  if (args.values['check']) {
    if (checked.length) err(`checked ${count(checked)}: bit-identical to the outputs in the store`);
    if (fresh.length) err(`not checked, as ${fresh.length === 1 ? 'it was' : 'they were'} not in the store (built now; run --check again to compare): ${fresh.map((r) => lowerer.derivations.get(r)!.name).join(', ')}`);
  } else if (rounds !== undefined && rounds > 1) {
    // Downloads are fetched once (their hash is checked instead); the builds are repeated.
    const repeated = built.filter((d) => !downloads.has(d));
    const fetched = built.length - repeated.length;
    if (repeated.length) err(`${count(repeated)} done ${rounds} times each: bit-identical every time${fetched ? ` (and ${fetched} download${fetched === 1 ? '' : 's'}, once, checked by hash)` : ''}`);
  }
}

/**
 * What is printed exists: the database trusts files nobody should touch, but they can be
 * deleted by hand (one lstat per path; `tsdsl verify` checks the whole store).
 */
async function checkPrintedExist(store: LocalStore, paths: readonly string[]): Promise<void> {
  const { existsSync } = await import('node:fs');
  const gone = paths.filter((p) => !existsSync(store.physicalPath(p)));
  if (gone.length) {
    throw new TsdslError(
      `${gone.join(', ')} ${gone.length === 1 ? 'is' : 'are'} registered, but ${gone.length === 1 ? 'its files are' : 'their files are'} gone from ${store.root}/store; \`tsdsl verify\` lists what else is missing. Drop ${gone.length === 1 ? 'its roots' : 'their roots'} and run \`tsdsl gc\`, then build again`,
    );
  }
}
