/**
 * Package specs as users type them: `name`, `name@version-prefix`, `name@^2`, with variants in
 * Spack's syntax: `scotch+mpi`, `mumps~metis`, `mumps+int64~metis`, `openblas target=generic`,
 * and, where outputs are meant (build, pack, shell, run, manifests), one output last, as Guix
 * writes it: `hwloc:lib`, `mumps@5~metis:doc`.
 * Parsing is separate from lookup so every command reads specs the same way.
 */
import { TsdslError } from '../errors.js';

/** A parsed spec: name, optional version part, and variant settings. */
export interface PackageSpecString {
  readonly text: string;
  readonly name: string;
  readonly version: string | undefined;
  readonly variants: Readonly<Record<string, boolean | string>>;
  /** The output after `:` (`lib` in `hwloc:lib`), read only when `parseSpec` is told outputs are meant. */
  readonly output?: string;
}

/** An output written last (`:lib`): a store name cannot hold `:`, so neither a name nor a version does. */
const OUTPUT_SUFFIX = /:([A-Za-z][A-Za-z0-9_]*)$/;

const NAME = /^[A-Za-z0-9_][A-Za-z0-9+\-._]*?(?=[@~]|\+[A-Za-z]|\s|$)/;

/** A word that is a variant alone: `+mpi`, `~metis`, `arch=HASWELL`. */
const VARIANT_WORD = /^(?:[+~][A-Za-z][^\s]*|[A-Za-z][A-Za-z0-9_-]*=[^\s=]+)$/;

/** A word that is an output alone (`two ~x :doc`): it ends the spec before it. */
const OUTPUT_WORD = /^:[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Specs as a shell splits them: a variant typed as a word of its own (`openblas arch=HASWELL`,
 * `mumps ~metis`, as Spack reads them) belongs to the spec before it, and so does an output
 * (`mumps ~metis :doc`). No package name starts with `+`, `~` or `:` or holds `=`, so nothing
 * else is joined.
 */
export function joinVariantWords(words: readonly string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    if (out.length > 0 && VARIANT_WORD.test(w.trim())) out[out.length - 1] += ` ${w.trim()}`;
    else if (out.length > 0 && OUTPUT_WORD.test(w.trim()) && !OUTPUT_SUFFIX.test(out[out.length - 1]!.trim())) out[out.length - 1] += w.trim();
    else out.push(w);
  }
  return out;
}

/** A package file's name (`solver.ts`), which a command line may give where a package goes (it takes -L). */
export const PACKAGE_FILE = /\.[cm]?[jt]s$/;

/** The error for a spec naming an output (`hwloc:lib`) where a package is meant. */
export function outputRefused(text: string, output: string, bare: string): TsdslError {
  return new TsdslError(
    `\`${text}\` names the output \`${output}\` of a package, where a package is meant; write \`${bare}\` (an output is taken by build, pack, shell, size, gc and log, and by pack manifests)`,
  );
}

/** What a spec with an output written before its variants (`mumps:lib~metis`) is told. */
function outputNotLast(input: string): string {
  const m = /^([^:]*):([A-Za-z][A-Za-z0-9_]*)(.+)$/.exec(input);
  return m ? `; an output is written last: \`${m[1]}${m[3]}:${m[2]}\`` : '';
}

/** A further comparator of a version range, after a space (`<2` in `hwloc@>=1.11 <2`). */
const COMPARATOR = /^\s+[<>]=?[^\s+~]+/;

/**
 * Parse `name[@version][+v|~v|-v …][ key=value …][:output]`. The output is read with
 * `{ outputs: true }`, where a command takes outputs; elsewhere a spec naming one is refused,
 * not read as its package (`show hwloc:lib`, `--with-input=hwloc:lib=…`), as Guix does.
 */
export function parseSpec(text: string, options: { outputs?: boolean } = {}): PackageSpecString {
  if (typeof text !== 'string') throw new TsdslError(`parseSpec: a package spec is a string such as 'mumps@5.5~metis', not ${text === undefined ? 'nothing' : typeof text}`);
  const suffix = OUTPUT_SUFFIX.exec(text.trim());
  if (suffix) {
    const bare = text.trim().slice(0, suffix.index);
    if (!options.outputs) throw outputRefused(text, suffix[1]!, bare);
    if (!bare.trim()) throw new TsdslError(`\`${text}\` names an output but no package; write NAME:OUTPUT, the output after its package (e.g. my-solver:doc)`);
    // `two:doc:lib`, `two::doc`: one output, after one `:`.
    const other = /:([A-Za-z][A-Za-z0-9_]*)?$/.exec(bare.trim());
    if (other) {
      const pkg = bare.trim().slice(0, other.index);
      throw new TsdslError(
        other[1] === undefined
          ? `\`${text}\`: write one \`:\` before the output: \`${pkg}:${suffix[1]}\``
          : `\`${text}\` names two outputs; a spec names one: give \`${pkg}:${other[1]}\` and \`${pkg}:${suffix[1]}\` as two arguments`,
      );
    }
    return { ...parseSpec(bare), text, output: suffix[1]! };
  }
  const input = text.trim();
  const m = NAME.exec(input);
  if (!m || !m[0]) {
    if (VARIANT_WORD.test(input)) throw new TsdslError(`\`${text}\` is a variant, not a package: give it after its package (\`mumps ~metis\`, \`openblas arch=HASWELL\`, or as one word: \`mumps~metis\`)`);
    if (/^\/.*\/[0-9a-df-np-sv-z]{32}-[^/]+/.test(input)) {
      throw new TsdslError(
        `\`${text}\` is a store path, not a package: name the package instead (its name is the path's end, without the version); \`tsdsl derivation show -r PATH\`, \`tsdsl gc --requisites PATH\` and \`tsdsl size PATH\` take store paths`,
      );
    }
    // A package file named where a package is expected: it is loaded with -L.
    const file = /[/\\]/.test(input) || PACKAGE_FILE.test(input) ? ` (to load the packages of the file or directory \`${text}\`, give it to -L: -L ${text} NAME)` : '';
    throw new TsdslError(`\`${text}\` is not a package spec; write NAME, NAME@VERSION or NAME@VERSION+VARIANT~VARIANT (e.g. hwloc@2, scotch+mpi)${file}${outputNotLast(input)}`);
  }
  const name = m[0];
  let rest = input.slice(name.length);
  let version: string | undefined;
  if (rest.startsWith('@')) {
    const vm = /^@([^+\s]*?)(?=~[A-Za-z]|\+[A-Za-z]|\s|$)/.exec(rest);
    version = vm?.[1] ?? '';
    if (!version) throw new TsdslError(`\`${text}\`: the version after \`@\` is empty; write e.g. ${name}@2 or ${name}@^2.9`);
    if (version.startsWith('@')) throw new TsdslError(`\`${text}\`: \`@\` is written twice; write ${name}${version}`);
    // A version holds no `:NAME` (Spack's ranges have numbers there): an output before the variants.
    if (/:[A-Za-z]/.test(version)) throw new TsdslError(`\`${text}\`: \`${version}\` is no version${outputNotLast(input)}`);
    rest = rest.slice(1 + version.length);
    // A range's further comparators (`hwloc@>=1.11 <2`, quoted as one word) are the version's.
    for (let more = COMPARATOR.exec(rest); more; more = COMPARATOR.exec(rest)) {
      version += ` ${more[0].trim()}`;
      rest = rest.slice(more[0].length);
    }
  }
  const variants: Record<string, boolean | string> = {};
  const re = /^\s*(?:([+~])([A-Za-z][A-Za-z0-9_-]*)(?:=([^\s+~]+))?|([A-Za-z][A-Za-z0-9_-]*)=([^\s]+))/;
  while (rest.trim()) {
    const vm = re.exec(rest);
    if (!vm) throw new TsdslError(`\`${text}\`: cannot read \`${rest.trim()}\`; variants are written +name, ~name or name=value (e.g. scotch+mpi~int64)${outputNotLast(input)}`);
    const key = vm[2] ?? vm[4]!;
    if (Object.hasOwn(variants, key)) throw new TsdslError(`\`${text}\`: variant \`${key}\` is given twice; give it once`);
    if (vm[2] !== undefined) variants[key] = vm[3] !== undefined ? vm[3] : vm[1] === '+';
    else variants[key] = vm[5]!;
    rest = rest.slice(vm[0].length);
  }
  return { text, name, version, variants };
}
