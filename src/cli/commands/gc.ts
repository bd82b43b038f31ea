/**
 * `tsdsl gc`: delete the store items no root keeps alive, list live and dead items and the
 * roots, and query the reference graph (references, requisites, referrers, derivers), as
 * `guix gc` does. The listings and queries are tables, so each is one entry here.
 *
 * Also home of `storeArguments`, which `size` and `log` share: turning command-line words
 * into store items. A word is a store path (`/tsdsl/store/…-hwloc-2.9.0`, a file inside
 * one, or its physical path), a symlink into the store such as `./result`, or a package
 * spec, which is lowered to its derivation and output paths.
 */
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { TsdslError, isTsdslError } from '../../errors.js';
import { joinVariantWords } from '../../registry/spec.js';
import type { LocalStore } from '../../store/store.js';
import type { Command } from '../command.js';
import { err, out, warn } from '../command.js';
import { findTransformation } from '../../transform/options.js';
import type { OptionSpec, ParsedArgs } from '../options.js';
import { commandWithPackageOptions, optionText, packageOptions, packagesFrom } from '../packages.js';

/** A command-line word resolved to store items. */
export interface StoreArgument {
  /** The word as given. */
  readonly arg: string;
  /** For a package spec: its derivation (computed, maybe not in the store). */
  readonly drvPath?: string;
  /** The store paths: the path given, or the package's outputs. */
  readonly paths: readonly string[];
}

/** The store path a word names, if it names one (store path, file in the store, or symlink into it). */
function storePathOf(store: LocalStore, word: string, command: string): string | undefined {
  const itemOf = (rest: string): string => `${store.storeDir}/${rest.split('/')[0]}`;
  if (word === store.storeDir || word === `${store.storeDir}/`) {
    throw new TsdslError(`tsdsl ${command}: \`${word}\` is the store directory itself; give a store path in it (${store.storeDir}/…) or a package`);
  }
  if (word.startsWith(`${store.storeDir}/`)) {
    const rest = word.slice(store.storeDir.length + 1).replace(/\/+$/, '');
    const item = itemOf(rest);
    // A file inside an item names the item; one that is not there names nothing.
    if (rest.includes('/') && store.isValid(item) && !existsSync(join(store.storeRoot, rest))) {
      throw new TsdslError(`tsdsl ${command}: \`${word}\` does not exist: ${item} has no \`${rest.slice(rest.indexOf('/') + 1)}\`; give the store path itself, ${item}`);
    }
    return item;
  }
  // Package specs never contain a slash; anything else with one is a file name.
  if (!word.includes('/')) return undefined;
  let real: string;
  try {
    real = realpathSync(word);
  } catch {
    const other = /^(\/.*?)\/[0-9a-df-np-sv-z]{32}-[^/]+/.exec(word);
    if (other) {
      throw new TsdslError(
        `tsdsl ${command}: \`${word}\` is a store path of ${other[1]}, but this store's directory is ${store.storeDir}; run with TSDSL_STORE_DIR=${other[1]} (and the store root kept for it) to look at that store`,
      );
    }
    throw new TsdslError(`tsdsl ${command}: \`${word}\` does not exist (a dangling link to a collected item?); give a store path or a package`);
  }
  let physical: string;
  try {
    physical = realpathSync(store.storeRoot);
  } catch {
    physical = store.storeRoot;
  }
  if (real.startsWith(`${physical}/`) && !real.slice(physical.length + 1).startsWith('.')) return itemOf(real.slice(physical.length + 1));
  throw new TsdslError(`tsdsl ${command}: \`${word}\` is not in the store (${store.storeDir}, kept in ${store.storeRoot}); give a store path or a package`);
}

/**
 * `packagesFrom`, with a word that is no package but a file here (`tsdsl size result`: the link
 * `build -r result` made, named without `./`, read as a package) said to be one.
 */
export async function packagesOrFiles(args: ParsedArgs, specs: readonly string[], options: { outputs?: boolean } = {}): Promise<Awaited<ReturnType<typeof packagesFrom>>> {
  try {
    return await packagesFrom(args, specs, undefined, options);
  } catch (e) {
    const files = specs.filter((w) => isTsdslError(e) && e.message.includes(`unknown package \`${w}\``) && lstatSync(w, { throwIfNoEntry: false }) !== undefined);
    if (!files.length) throw e;
    const said = files.map((f) => `\`${f}\``).join(', ');
    throw new TsdslError(`${(e as Error).message}; ${said} ${files.length === 1 ? 'is a file' : 'are files'} here: a path is written with a slash, ${files.map((f) => `\`./${f}\``).join(', ')} (a link to a store item, such as ./result, names that item)`, {
      cause: e,
      exitCode: (e as TsdslError).exitCode,
    });
  }
}

/**
 * Resolves words to store items. Packages are loaded (with `-L` and the transformation
 * options) and lowered only when some word is not a path. With `requireValid`, every path
 * must be valid in the store, and the error says how to get it there.
 */
export async function storeArguments(
  args: ParsedArgs,
  store: LocalStore,
  words: readonly string[],
  options: { command: string; requireValid: boolean },
): Promise<StoreArgument[]> {
  const { isStorePath } = await import('../../derivation/hash.js');
  // A variant typed as a word of its own (`mumps ~metis`) is part of the spec before it.
  const joined = joinVariantWords(words);
  const resolved: Array<StoreArgument | undefined> = joined.map((w) => {
    const path = storePathOf(store, w, options.command);
    if (path === undefined) return undefined;
    if (!isStorePath(path, store.storeDir)) {
      throw new TsdslError(`tsdsl ${options.command}: \`${w}\` is not a store path; store paths look like ${store.storeDir}/<32-character hash>-<name>`);
    }
    if (options.requireValid && !store.isValid(path)) {
      throw new TsdslError(`tsdsl ${options.command}: ${path} is not a valid item of the store at ${store.root}; it was never built or added here, or it was collected`);
    }
    return { arg: w, paths: [path] };
  });
  const specs = joined.filter((_, i) => resolved[i] === undefined);
  // A store path is what it is: transformations change packages, not items already made.
  const pathArgs = resolved.filter((r): r is StoreArgument => r !== undefined);
  const changes = args.ordered.filter((o) => findTransformation(o.name));
  if (pathArgs.length > 0 && changes.length > 0) {
    const given = changes.map(optionText).join(' ');
    warn(`${given} ${changes.length === 1 ? 'does' : 'do'} not change ${pathArgs.map((r) => r.arg).join(', ')}: a store path is taken as it is; name ${pathArgs.length === 1 ? 'its package' : 'their packages'} instead`);
  }
  if (specs.length > 0) {
    // `two:doc` names that output's item (`guix size glib:bin`).
    const { packages, items } = await packagesOrFiles(args, specs, { outputs: true });
    // One package per spec: they are joined already.
    if (packages.length !== specs.length) throw new Error(`storeArguments: ${specs.length} specs gave ${packages.length} packages`);
    const { itemOutputs } = await import('../../dsl/package.js');
    const { lowerPackages } = await import('../../derivation/lower.js');
    const { results } = await lowerPackages(packages, { storeDir: store.storeDir });
    let k = 0;
    for (let i = 0; i < joined.length; i++) {
      if (resolved[i] !== undefined) continue;
      const r = results[k]!;
      const paths = Object.values(itemOutputs(items[k++]!, r.outputs));
      if (options.requireValid) {
        const missing = paths.find((p) => !store.isValid(p));
        if (missing) {
          throw new TsdslError(`tsdsl ${options.command}: package \`${joined[i]}\` is not built yet (${missing} is not in the store); build it with \`${commandWithPackageOptions('build', args, [joined[i]!])}\``);
        }
      }
      resolved[i] = { arg: joined[i]!, drvPath: r.drvPath, paths };
    }
  }
  return resolved as StoreArgument[];
}

/**
 * Sizes as `guix gc` and `guix size` print them: MiB with one decimal; below 1 MiB two
 * significant digits (`0.0039`), so a small item does not read as empty.
 */
export function mib(bytes: number): string {
  const m = bytes / 1048576;
  if (m >= 1 || bytes === 0) return m.toFixed(1);
  return m >= 0.1 ? m.toFixed(2) : Number(m.toPrecision(2)).toFixed(Math.min(8, 1 - Math.floor(Math.log10(m))));
}

/** Parses `500M`, `2G`, `1.5GiB`, `1024` (bytes) into bytes. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new TsdslError(`tsdsl gc: ${flag} takes a size such as 500M, 2G or 1048576 (bytes), not \`${text}\``);
  const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  return Math.ceil(Number(m[1]) * 1024 ** power);
}

/** A query over the reference graph: PATH... in, store paths out (printed sorted, one a line). */
interface Query {
  readonly name: string;
  readonly short?: string;
  readonly description: string;
  run(store: LocalStore, paths: readonly string[]): string[];
}

const queries: readonly Query[] = [
  { name: 'references', description: 'list the items each PATH refers to directly', run: (s, ps) => ps.flatMap((p) => s.queryReferences(p)) },
  { name: 'requisites', short: 'R', description: 'list the closure of the PATHs: what they refer to, recursively, and themselves', run: (s, ps) => s.queryRequisites(ps) },
  { name: 'referrers', description: 'list the valid items that refer to each PATH directly', run: (s, ps) => ps.flatMap((p) => s.queryReferrers(p)) },
  {
    name: 'derivers',
    description: 'list the derivations (.drv files in the store) that produce each PATH',
    run: (s, ps) => ps.flatMap((p) => [...s.queryDerivers(p), s.queryPathInfo(p)?.deriver ?? ''].filter((d) => d !== '' && s.isValid(d))),
  },
];

/** A listing of the whole store. */
interface Listing {
  readonly name: string;
  readonly description: string;
  run(store: LocalStore): Promise<string[]>;
}

const listings: readonly Listing[] = [
  {
    name: 'list-dead',
    description: 'list the items the collector would delete',
    run: async (s) => (await import('../../store/gc.js')).deadPaths(s).sort(),
  },
  {
    name: 'list-live',
    description: 'list the items the collector keeps',
    run: async (s) => [...(await import('../../store/gc.js')).liveSet(s)].sort(),
  },
  {
    name: 'list-roots',
    description: 'list the GC roots as NAME<TAB>PATH; indirect roots whose link is gone, or leads to no valid item, are marked (dead)',
    run: async (s) => s.listRoots().map((r) => `${r.name}\t${r.path}${r.indirect && !r.live ? '\t(dead)' : ''}`),
  },
];

const options: readonly OptionSpec[] = [
  { name: 'dry-run', short: 'n', kind: 'boolean', description: 'print the items that would be deleted, and delete nothing', group: 'Collecting' },
  { name: 'max-freed', short: 'F', kind: 'string', arg: 'SIZE', description: 'stop once SIZE is freed (e.g. 500M, 2G)', group: 'Collecting' },
  {
    name: 'packs',
    kind: 'string',
    optionalValue: '30',
    arg: 'DAYS|all',
    description: 'instead of the store, reclaim the packs `tsdsl run` unpacked (~/.cache/tsdsl/packs) and the podman images it made, not used for DAYS days (default 30), or all not in use',
    group: 'Collecting',
  },
  ...listings.map((l): OptionSpec => ({ name: l.name, kind: 'boolean', description: l.description, group: 'Listing' })),
  ...queries.map((q): OptionSpec => ({ name: q.name, ...(q.short ? { short: q.short } : {}), kind: 'boolean', description: q.description, group: 'Queries (PATH: store path, link into the store, or package)' })),
  ...packageOptions,
];

/** `--packs[=DAYS|all]`: the unpacked-pack cache, not the store. */
async function collectPacks(args: ParsedArgs): Promise<number> {
  const text = String(args.values['packs']);
  let olderThanMs: number;
  if (text === 'all') olderThanMs = 0;
  else {
    const days = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(days)) {
      throw new TsdslError(`tsdsl gc: --packs takes a number of days (e.g. --packs=7) or \`all\`, not \`${text}\``);
    }
    olderThanMs = days * 86_400_000;
  }
  const { collectPackCache, packCacheDir } = await import('../../run/unpack.js');
  const dryRun = Boolean(args.values['dry-run']);
  const cacheDir = packCacheDir();
  const r = collectPackCache({ cacheDir, olderThanMs, dryRun });
  if (dryRun) out(r.removed.map((e) => `${e.root}\n`).join(''));
  for (const k of r.kept) if (k.entry.users > 0 || k.reason.startsWith('locked')) err(`kept ${k.entry.root}: ${k.reason}`);
  const n = r.removed.length;
  // The scratch directories of runs killed with -9 (in /dev/shm, say), once their commands are gone.
  const { currentHost, removeRunScratchLeftovers } = await import('../../run/engines.js');
  const host = currentHost();
  const scratch = removeRunScratchLeftovers(host, dryRun);
  const extra = alsoRemoved([r.leftovers ? plural(r.leftovers, 'interrupted unpack') : '', scratch ? `${plural(scratch, 'scratch directory', 'scratch directories')} of killed runs` : '']);
  err(`${dryRun ? 'would free' : 'freed'} ${mib(r.freedBytes)} MiB in ${n} unpacked pack${n === 1 ? '' : 's'}${extra} from ${cacheDir}; ${r.kept.length} kept`);
  // The images `tsdsl run --engine=podman` keeps in tsdsl's own podman storage, judged alike.
  const { collectPodmanImages, hasPodmanStorage, podmanStoragesDir } = await import('../../run/podman-storage.js');
  if (!hasPodmanStorage(host)) return 0;
  const p = collectPodmanImages(host, { olderThanMs, dryRun });
  if (dryRun) out(p.removed.map((i) => `podman image ${i.names[0] ?? i.id} (${i.storage})\n`).join(''));
  for (const s of p.skipped) err(`kept the podman storage ${s.storage}: ${s.reason}`);
  for (const k of p.kept) if (k.reason !== 'used recently') err(`kept podman image ${k.image.names[0] ?? k.image.id}: ${k.reason}`);
  const m = p.removed.length;
  const left = alsoRemoved([
    p.leftoverContainers ? `${plural(p.leftoverContainers, 'container')} of killed runs` : '',
    p.leftoverTemporaries ? plural(p.leftoverTemporaries, 'temporary copy podman left', 'temporary copies podman left') : '',
  ]);
  err(`${dryRun ? 'would free' : 'freed'} ${mib(p.freedBytes)} MiB in ${m} podman image${m === 1 ? '' : 's'}${left} from ${podmanStoragesDir(host)}; ${p.kept.length} kept`);
  return 0;
}

/** ` (and A and B)` for the non-empty parts, or nothing. */
function alsoRemoved(parts: readonly string[]): string {
  const said = parts.filter(Boolean);
  return said.length ? ` (and ${said.join(' and ')})` : '';
}

/** `n` and the noun, singular or plural. */
function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

async function collect(store: LocalStore, args: ParsedArgs): Promise<number> {
  const { collectGarbage } = await import('../../store/gc.js');
  const maxFreedText = args.values['max-freed'] as string | undefined;
  const dryRun = Boolean(args.values['dry-run']);
  const result = collectGarbage(store, {
    dryRun,
    ...(maxFreedText !== undefined ? { maxFreed: parseSize(maxFreedText, '--max-freed') } : {}),
  });
  if (dryRun) out(result.deleted.map((p) => `${p}\n`).join(''));
  // What was deleted, each kind counted apart: the store items, then what lay around them.
  const parts = [plural(result.deleted.length, 'item')];
  if (result.leftovers.length) parts.push(plural(result.leftovers.length, 'unregistered leftover'));
  if (result.caches.length) parts.push(plural(result.caches.length, 'cached build root'));
  const listed = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}` : parts[0]!;
  const dropped = result.deadRoots.length ? `; ${plural(result.deadRoots.length, 'dead indirect root')} ${dryRun ? 'would be dropped' : 'dropped'}` : '';
  const summary = `${mib(result.freedBytes)} MiB in ${listed}${dropped}`;
  err(dryRun ? `would free about ${summary}` : `freed ${summary}`);
  return 0;
}

export const command: Command = {
  name: 'gc',
  summary: 'delete unused store items, or query the store',
  usage: 'tsdsl gc [OPTION]... [PATH-or-PACKAGE]...',
  details:
    'Without a query option, deletes every store item that no GC root keeps alive, and prints how much\n' +
    'was freed. Roots are those added by `tsdsl build -r FILE` (FILE keeps the item it links to)\n' +
    'and named roots (scripts make them: `openStore().addRoot(path, name)`); items in use by running\n' +
    'tsdsl processes (temporary roots, locked builds) are kept too. A root keeps its whole closure, and\n' +
    'what is kept keeps the derivation that built it with that one\'s closure (its recipe, as Nix\'s and\n' +
    'Guix\'s keep-derivations), but not the outputs of its inputs. The query options print\n' +
    'store paths, sorted, one a line; a PATH may be a store path, a link into the store such as ./result,\n' +
    'or a package, which stands for its output paths and must be built. The queries, listings and\n' +
    '--dry-run only read the store: another user\'s, or one you cannot write, is read (read-only),\n' +
    'where collecting refuses it.\n' +
    '--packs works on the cache of unpacked packs instead of the store, and on the images\n' +
    '`tsdsl run --engine=podman` keeps in its own podman storage: an entry or image a running\n' +
    '`tsdsl run` uses is always kept (each run registers itself), and so is an image a container uses.',
  examples: [
    ['tsdsl gc', 'delete every dead item; print "freed N MiB in M items"'],
    ['tsdsl gc --dry-run', 'print what would be deleted, delete nothing'],
    ['tsdsl gc -F 2G', 'delete dead items until 2 GiB are freed'],
    ['tsdsl gc --list-roots', 'what keeps items alive'],
    ['tsdsl gc --packs', 'delete the packs `tsdsl run` unpacked and nobody used for 30 days'],
    ['tsdsl gc --packs=all --dry-run', 'list every unpacked pack not in use, delete nothing'],
    ['tsdsl gc --requisites hwloc', 'the runtime closure of the built hwloc'],
    ['tsdsl gc --referrers /tsdsl/store/…-zlib-1.2.13', 'which items refer to this zlib'],
    ['tsdsl gc --derivers ./result', 'the .drv that built the item ./result points at'],
  ],
  options,
  async run(args) {
    const query = queries.filter((q) => args.values[q.name]);
    const listing = listings.filter((l) => args.values[l.name]);
    if (args.values['packs'] !== undefined) {
      const other = [...query.map((q) => `--${q.name}`), ...listing.map((l) => `--${l.name}`), ...(args.values['max-freed'] !== undefined ? ['--max-freed'] : [])];
      if (other.length) throw new TsdslError(`tsdsl gc: --packs and ${other.join(' and ')} cannot be combined; --packs takes only --dry-run`);
      if (args.positionals.length) throw new TsdslError(`tsdsl gc: unexpected argument \`${args.positionals[0]}\`; --packs takes no argument (write --packs=DAYS)`);
      return collectPacks(args);
    }
    const modes = [...query.map((q) => q.name), ...listing.map((l) => l.name), ...(args.values['dry-run'] || args.values['max-freed'] !== undefined ? ['collect'] : [])];
    if (modes.length > 1) {
      const flags = modes.map((m) => (m === 'collect' ? (args.values['dry-run'] ? '--dry-run' : '--max-freed') : `--${m}`));
      throw new TsdslError(`tsdsl gc: ${flags.join(' and ')} cannot be combined; give one of them`);
    }
    if (query.length === 0 && args.positionals.length > 0) {
      throw new TsdslError(`tsdsl gc: unexpected argument \`${args.positionals[0]}\`; to query it, add an option such as \`--requisites\` (see \`tsdsl gc --help\`)`);
    }
    const { openStore } = await import('../../store/store.js');
    // Only a collection that deletes may give up the reserve on a full disk (it frees more); the
    // rest only read, so another user's store (or a read-only one) is read, not refused.
    const deletes = query.length === 0 && listing.length === 0 && !args.values['dry-run'];
    const store = openStore({ existing: true, ...(deletes ? { useReserve: true } : { readOnly: 'if-not-writable' as const }) });
    try {
      if (query[0]) {
        if (args.positionals.length === 0) throw new TsdslError(`tsdsl gc: --${query[0].name} needs at least one PATH or package; try \`tsdsl gc --${query[0].name} hwloc\``);
        const items = await storeArguments(args, store, args.positionals, { command: 'gc', requireValid: true });
        const paths = [...new Set(query[0].run(store, items.flatMap((i) => i.paths)))].sort();
        out(paths.map((p) => `${p}\n`).join(''));
        return 0;
      }
      if (listing[0]) {
        out((await listing[0].run(store)).map((l) => `${l}\n`).join(''));
        return 0;
      }
      return await collect(store, args);
    } finally {
      store.close();
    }
  },
};
