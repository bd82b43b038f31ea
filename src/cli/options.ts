/**
 * Command-line option parsing from tables. Each command declares its options as plain values
 * (name, short letter, kind, help); shared groups — the package-loading options and the
 * transformation options — are tables too, so every command that takes packages gets all of
 * them from one place. Unknown flags fail with the closest known ones.
 */
import { TsdslError, didYouMean } from '../errors.js';

export type OptionKind = 'boolean' | 'string' | 'number';

/** One option of a command. */
export interface OptionSpec {
  readonly name: string;
  readonly short?: string;
  readonly kind: OptionKind;
  /** May be given several times; values are collected in order. */
  readonly multiple?: boolean;
  /** Placeholder in help, e.g. `DIR`. */
  readonly arg?: string;
  readonly description: string;
  /** Section heading in help. */
  readonly group?: string;
  /** For `--foo[=VALUE]`-style options whose value may be omitted. */
  readonly optionalValue?: string;
}

/** Parsed options: values by name, positionals, and the order of every option given. */
export interface ParsedArgs {
  readonly values: Record<string, string | boolean | number | Array<string | number> | undefined>;
  readonly positionals: string[];
  /** Every option in command-line order with its value (transformations apply in this order). */
  readonly ordered: Array<{ name: string; value: string | boolean | number }>;
  /** Arguments after `--`. */
  readonly rest: string[];
  /** Words right after an option whose value needs `=` (`--tune native`): word → the option's name. */
  readonly afterOptional?: Readonly<Record<string, string>>;
}

/** Parse argv against a table. `--` ends options; the rest goes to `rest`. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], command: string, takesCommand = false): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values: ParsedArgs['values'] = {};
  const positionals: string[] = [];
  const ordered: ParsedArgs['ordered'] = [];
  const afterOptional: Record<string, string> = {};
  let rest: string[] = [];

  // `separate`: the value is the next word (`--with-input X`), not joined (`--with-input=X`).
  const set = (spec: OptionSpec, raw: string | boolean, flag: string, separate = false) => {
    let v: string | boolean | number = raw;
    if (spec.kind === 'number') {
      // Counts, sizes and durations: none of them can be negative.
      if (typeof raw !== 'string' || !/^\d+$/.test(raw)) throw new TsdslError(`tsdsl ${command}: ${flag} takes a whole number (digits only), not \`${String(raw)}\``);
      v = Number(raw);
    }
    // `--with-input hwloc`: an option whose value is PACKAGE=… took the next word, maybe the
    // package meant for the command. Said here, before "no package given" would hide it.
    if (separate && typeof raw === 'string' && spec.arg && /^[A-Z]+=/.test(spec.arg) && !raw.includes('=')) {
      throw new TsdslError(`tsdsl ${command}: ${flag} takes ${spec.arg}, and \`${raw}\` has no \`=\`; write ${flag.startsWith('--') ? `--${spec.name}=${spec.arg}` : `${flag} ${spec.arg}`}`);
    }
    ordered.push({ name: spec.name, value: v });
    if (spec.multiple) {
      const list = (values[spec.name] as Array<string | number> | undefined) ?? [];
      list.push(v as string | number);
      values[spec.name] = list;
    } else values[spec.name] = v;
  };

  const unknown = (flag: string): never => {
    const names = specs.map((s) => `--${s.name}`);
    // The JSON form of a command with backends is one of them.
    if (flag === '--json' && byName.get('backend')) throw new TsdslError(`tsdsl ${command}: unknown option \`--json\`; JSON is one of its backends: --backend=json (see \`tsdsl ${command} --help\`)`);
    // A one-letter flag is not compared with long names (`-V` is not close to `--with-version`).
    const close = /^-[^-]$/.test(flag) ? '' : didYouMean(flag, names);
    if ((flag === '-V' || flag === '--version') && !takesCommand) throw new TsdslError(`tsdsl ${command}: unknown option \`${flag}\`; tsdsl's version is \`tsdsl --version\`, given before any command`);
    // `tsdsl run PACK prog --version`: an option of the program, which goes after `--`.
    const hint = takesCommand && !close ? `; if it is an option of the command to run, put the command after \`--\` (\`tsdsl ${command} … -- PROGRAM ${flag}\`)` : '';
    throw new TsdslError(`tsdsl ${command}: unknown option \`${flag}\`${close}${hint} (see \`tsdsl ${command} --help\`)`);
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      let spec = byName.get(name);
      let negated = false;
      if (!spec && name.startsWith('no-') && byName.get(name.slice(3))?.kind === 'boolean') {
        spec = byName.get(name.slice(3));
        negated = true;
      }
      if (!spec) unknown(`--${name}`);
      if (spec!.kind === 'boolean') {
        if (eq >= 0) throw new TsdslError(`tsdsl ${command}: --${name} is a switch and takes no value`);
        set(spec!, !negated, a);
      } else if (eq >= 0) {
        // `--tune=` (a variable that was empty) is not `--tune`: say so rather than pick the default.
        if (eq === a.length - 1 && spec!.optionalValue !== undefined) {
          throw new TsdslError(`tsdsl ${command}: --${name}= has an empty value; give one (--${name}=${spec!.arg ?? 'VALUE'}), or write --${name} alone for ${spec!.optionalValue}`);
        }
        set(spec!, a.slice(eq + 1), `--${name}`);
      }
      else if (spec!.optionalValue !== undefined) {
        set(spec!, spec!.optionalValue, `--${name}`);
        // `--tune native`: the next word is not the option's value (only `=` gives one); kept to
        // say so should it name no package.
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('-')) afterOptional[next] = name;
      }
      else {
        const v = argv[++i];
        if (v === undefined) throw new TsdslError(`tsdsl ${command}: --${name} needs a value (${spec!.arg ?? 'VALUE'})`);
        set(spec!, v, `--${name}`, true);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      // `-dry-run`, `-type=bag`: a long option written with one dash would read as one-letter
      // ones (`-d -r y-run`), quietly doing something else.
      const single = /^-([a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z]{2,})(=.*)?$/s.exec(a);
      if (single && byName.has(single[1]!)) throw new TsdslError(`tsdsl ${command}: \`${a}\` has one dash; long options take two: \`-${a}\``);
      // Short options: -x, -xVALUE, -x VALUE, and bundles of switches (-dK).
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const spec = byShort.get(c);
        if (!spec) unknown(`-${c}`);
        if (spec!.kind === 'boolean') {
          set(spec!, true, `-${c}`);
          continue;
        }
        // `-L=DIR` as `--load-path=DIR` would be: the value is what follows the `=`.
        if (a.slice(j + 1) === '=') throw new TsdslError(`tsdsl ${command}: -${c}= has an empty value; give one (-${c} ${spec!.arg ?? 'VALUE'})`);
        const attached = a.slice(j + 1).replace(/^=/, '');
        if (attached) set(spec!, attached, `-${c}`);
        else {
          const v = argv[++i];
          if (v === undefined) throw new TsdslError(`tsdsl ${command}: -${c} needs a value (${spec!.arg ?? 'VALUE'})`);
          set(spec!, v, `-${c}`, true);
        }
        break;
      }
      continue;
    }
    positionals.push(a);
  }
  return { values, positionals, ordered, rest, afterOptional };
}

/**
 * Refuses the first of `options` given on the command line, which `mode` makes meaningless:
 * an option that would be dropped without a word is an error instead. `mode` says why, e.g.
 * `tsdsl build: -d writes derivations and builds nothing, so`.
 */
export function refuseWith(args: ParsedArgs, options: readonly string[], mode: string): void {
  const given = options.find((o) => args.values[o] !== undefined);
  if (given !== undefined) throw new TsdslError(`${mode} --${given} has no effect; drop one of them`);
}

/** Help text for a table of options, grouped, aligned. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const groups = new Map<string, OptionSpec[]>();
  for (const s of specs) {
    const g = s.group ?? 'Options';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(s);
  }
  const out: string[] = [];
  for (const [g, list] of groups) {
    out.push(`${g}:`);
    const left = list.map((s) => {
      const long = `--${s.name}${s.kind === 'boolean' ? '' : s.optionalValue !== undefined ? `[=${s.arg ?? 'VALUE'}]` : `=${s.arg ?? 'VALUE'}`}`;
      return s.short ? `-${s.short}, ${long}` : `    ${long}`;
    });
    const width = Math.min(40, Math.max(...left.map((l) => l.length)));
    list.forEach((s, i) => {
      const l = left[i]!;
      out.push(l.length > width ? `  ${l}\n  ${' '.repeat(width)}  ${s.description}` : `  ${l.padEnd(width)}  ${s.description}`);
    });
    out.push('');
  }
  return out.join('\n');
}

/** Options every command has. */
export const commonOptions: readonly OptionSpec[] = [
  { name: 'help', short: 'h', kind: 'boolean', description: 'show this help and exit', group: 'Common options' },
  { name: 'debug', kind: 'boolean', description: 'print stack traces of errors', group: 'Common options' },
];

/** Options of commands that load packages. */
export const loadOptions: readonly OptionSpec[] = [
  {
    name: 'load-path',
    short: 'L',
    kind: 'string',
    multiple: true,
    arg: 'DIR',
    description: 'add package files (TypeScript) from DIR; also TSDSL_PACKAGE_PATH',
    group: 'Package options',
  },
];
