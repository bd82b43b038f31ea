/**
 * What every package-taking command does first: load the collection (default + `-L` dirs),
 * resolve the spec arguments, and apply the transformation options in command-line order.
 */
import { availableParallelism } from 'node:os';
import { itemPackage, withItemPackages, type Package, type ProfileItem } from '../dsl/package.js';
import { TsdslError, closest } from '../errors.js';
import { PartialCollectionMiss, type Collection } from '../registry/collection.js';
import { loadCollectionFor } from '../registry/load.js';
import { joinVariantWords } from '../registry/spec.js';
import { applyTransformOptions } from '../transform/options.js';
import type { OptionSpec, ParsedArgs } from './options.js';
import { loadOptions } from './options.js';
import { transformOptionSpecs } from './transform-options.js';
import { warn } from './command.js';
import { shellWord } from '../shell-quote.js';

/** Load options and transformation options: append to a command's own table. */
export const packageOptions: readonly OptionSpec[] = [...loadOptions, ...transformOptionSpecs];

/** How commands that build what is missing (build, pack, shell) run their builds. */
export const buildOptions: readonly OptionSpec[] = [
  { name: 'max-jobs', short: 'j', kind: 'number', arg: 'N', description: 'run up to N builds at once (default 1)' },
  { name: 'cores', short: 'c', kind: 'number', arg: 'N', description: 'let each build use N cores (NIX_BUILD_CORES, make -jN; default: all)' },
];

/** `--max-jobs` and `--cores` with the same defaults for every command: one job, every core. */
export function buildSettings(args: ParsedArgs, command: string): { maxJobs: number; cores: number } {
  const maxJobs = (args.values['max-jobs'] as number | undefined) ?? 1;
  const cores = (args.values['cores'] as number | undefined) ?? availableParallelism();
  if (!Number.isInteger(maxJobs) || maxJobs < 1) throw new TsdslError(`tsdsl ${command}: -j/--max-jobs ${maxJobs}: give a whole number of builds, 1 or more (e.g. -j2)`);
  if (!Number.isInteger(cores) || cores < 1) throw new TsdslError(`tsdsl ${command}: --cores ${cores}: give a whole number of cores, 1 or more (e.g. --cores=2)`);
  return { maxJobs, cores };
}

/** An option as typed: `--name=value`, or `--name` for a switch. */
export function optionText(o: { name: string; value: string | boolean | number }): string {
  return o.value === true ? `--${o.name}` : `--${o.name}=${o.value}`;
}

/**
 * `tsdsl COMMAND` with the options of ARGS that choose the packages (`-L`, transformations, in
 * their order) and WORDS: a command a hint suggests names the same packages as the one typed.
 */
export function commandWithPackageOptions(command: string, args: ParsedArgs, words: readonly string[]): string {
  const chosen = args.ordered.flatMap((o) =>
    o.name === 'load-path' ? ['-L', String(o.value)] : transformOptionSpecs.some((t) => t.name === o.name) ? [optionText(o)] : [],
  );
  // A spec with spaces (`hwloc +libxml2`, `hwloc@>=1.11 <2`) is one quoted word, which reads the same.
  return ['tsdsl', command, ...chosen, ...words].map(shellWord).join(' ');
}

/** Whether `word` is (or is close to) a value of the optional-valued option `name`. */
async function isValueOf(name: string, word: string): Promise<boolean> {
  if (name !== 'tune') return false;
  const { KNOWN_CPUS } = await import('../transform/tune.js');
  const values = ['native', ...KNOWN_CPUS];
  return values.includes(word) || closest(word, values).length > 0;
}

/**
 * Load the collection named by `-L`/TSDSL_PACKAGE_PATH: every package file (and the package
 * index is written again when it is out of date), or, given the command line's `words`, only
 * the files defining a name among them when the index is up to date (a partial collection).
 */
export async function collectionFrom(args: ParsedArgs, words?: readonly string[]): Promise<Collection> {
  const collection = await loadCollectionFor({ loadPath: (args.values['load-path'] as string[] | undefined) ?? [] }, words);
  collection.forCommandLine = true;
  return collection;
}

/**
 * The packages a command's words name. A variant typed as a word of its own joins the spec
 * before it (`joinVariantWords`), so there may be fewer packages than words.
 */
export function resolveWords(collection: Collection, words: readonly string[]): Package[] {
  return collection.resolveAll(joinVariantWords(words));
}

/** As resolveWords, where a spec may end in an output (`hwloc:lib`): the packages and outputs named. */
export function resolveItemWords(collection: Collection, words: readonly string[]): ProfileItem[] {
  return collection.resolveItems(joinVariantWords(words));
}

/**
 * `fn` on the collection loaded for the command line's packages: only the package files defining
 * a name among the command line's words and option values (through the package index), and when
 * that proves not to be enough (an unknown name, whose suggestions need every name, or a name a
 * file left out defines too: PartialCollectionMiss), on every file, from the start again. The
 * warnings of a first try (the collection's, and those `fn` gives its `warn`) are said only when
 * it is not the one thrown away.
 */
export async function withCollectionFor<T>(args: ParsedArgs, words: readonly string[], fn: (c: Collection, warn: (text: string) => void) => Promise<T> | T): Promise<T> {
  const all = [...args.positionals, ...words, ...args.ordered.flatMap((o) => (typeof o.value === 'string' ? [o.value] : []))];
  const c = await collectionFrom(args, all);
  if (!c.partial) return fn(c, warn);
  const said: Array<() => void> = [];
  const own = c.warn;
  c.warn = (text) => said.push(() => own(text));
  try {
    const out = await fn(c, (text) => said.push(() => warn(text)));
    c.warn = own;
    for (const say of said) say();
    return out;
  } catch (e) {
    c.warn = own;
    if (!(e instanceof PartialCollectionMiss)) {
      for (const say of said) say();
      throw e;
    }
  }
  return fn(await collectionFrom(args), warn);
}

/**
 * Resolve spec words (`resolveWords`) and apply every transformation option, warning about those
 * with no effect. Without `collection`, the collection is loaded for them (`withCollectionFor`),
 * or, with `whole`, every package file is. With `outputs` (build, pack, shell, size, gc, log), a spec may
 * end in an output (`hwloc:lib`), kept in `items` (one per spec, beside `packages`).
 */
export async function packagesFrom(
  args: ParsedArgs,
  specs: readonly string[],
  collection?: Collection,
  options: { whole?: boolean; outputs?: boolean } = {},
): Promise<{ collection: Collection; packages: Package[]; items: ProfileItem[] }> {
  const outputs = options.outputs ?? false;
  if (collection || options.whole) return packagesIn(collection ?? (await collectionFrom(args)), args, specs, warn, outputs);
  return withCollectionFor(args, specs, (c, say) => packagesIn(c, args, specs, say, outputs));
}

async function packagesIn(
  c: Collection,
  args: ParsedArgs,
  specs: readonly string[],
  warn: (text: string) => void,
  outputs: boolean,
): Promise<{ collection: Collection; packages: Package[]; items: ProfileItem[] }> {
  for (const w of specs) {
    const option = args.afterOptional?.[w];
    // Said only when the word is a value of the option (`--tune native`, `--tune haswel`); a
    // misspelt package after it (`--tune hwlocc`) gets the unknown package's own suggestions.
    if (option !== undefined && c.versions(w.split(/[@+~ :]/)[0]!).length === 0 && (await isValueOf(option, w))) {
      throw new TsdslError(`\`${w}\` after --${option} is read as a package, and there is none of that name: --${option} takes a value only with \`=\`; write --${option}=${w}`);
    }
  }
  const resolved = outputs ? resolveItemWords(c, specs) : resolveWords(c, specs);
  const packages = await applyTransformOptions(resolved.map(itemPackage), args.ordered, c, { warn });
  return { collection: c, packages, items: withItemPackages(resolved, packages) };
}
