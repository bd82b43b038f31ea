/**
 * The lint checkers (Guix's `guix lint` checkers): each is a plain value with a name, a
 * description, whether it needs the network, and a function from a package to its problems.
 * A problem names the field it is about (a property path in the definition), so the runner
 * (lint.ts) can point at that property's line and column. Adding a checker means adding an
 * entry to `checkers`.
 */
import { existsSync } from 'node:fs';
import { basename, sep } from 'node:path';
import { MIRRORS } from '../build/mirrors.js';
import { didYouMean } from '../errors.js';
import { isKnownLicense, type License } from '../dsl/licenses.js';
import type { Origin } from '../dsl/origin.js';
import { BUILD_ENV_NAMES, flagReferences, implicitInputs, inputVariable, mayBeBuildVariable, packageSnippets, snippetsSet, variableOf } from '../dsl/build-systems.js';
import { ancestors, choiceText, fullName, inputLabels, isPackage, isVariantOf, staleSourceParent, withPropagated, withVariants, type Package, type VariantDecl, type VariantValue } from '../dsl/package.js';
import type { Lowerer } from '../derivation/lower.js';
import type { Collection } from '../registry/collection.js';
import { formatLocation } from '../dsl/location.js';
import type { SourceIndex } from './positions.js';

/** One problem a checker found. */
export interface Problem {
  readonly message: string;
  /** The property the problem is about, e.g. ['source', 'sha256']; the definition when absent. */
  readonly field?: readonly string[];
  /** An exact position (formatting findings), overriding `field`. */
  readonly at?: { readonly file: string; readonly line: number; readonly column: number };
}

/** What checkers may use beyond the package. */
export interface LintContext {
  readonly sources: SourceIndex;
  /** The collection the packages come from, when known: definitions are compared with its others. */
  readonly collection?: Collection;
  /** The shared lowerer for the derivation checker (created on first use). */
  lowerer(): Promise<Lowerer>;
  /** Hash the local files `p`'s closure refers to (once for the whole run when they all exist). */
  prepare(p: Package): Promise<void>;
}

export interface LintChecker {
  readonly name: string;
  readonly description: string;
  readonly network: boolean;
  /** Reads the package files (`ctx.sources`, which parses them with ts-morph: loaded only when needed). */
  readonly readsSources?: true;
  check(p: Package, ctx: LintContext): readonly Problem[] | Promise<readonly Problem[]>;
}

const problem = (message: string, ...field: string[]): Problem => (field.length ? { message, field } : { message });

// ---------------------------------------------------------------------------------------------
// Identity

const nameChecker: LintChecker = {
  name: 'name',
  description: 'the name is lower case letters, digits and - + . _',
  network: false,
  check(p) {
    if (/^[a-z0-9][a-z0-9+._-]*$/.test(p.name)) return [];
    const suggestion = p.name.toLowerCase().replace(/[^a-z0-9+._-]+/g, '-').replace(/^[^a-z0-9]+/, '');
    return [problem(`name \`${p.name}\` should be lower case letters, digits and - + . _ (e.g. \`${suggestion}\`)`, 'name')];
  },
};

const versionChecker: LintChecker = {
  name: 'version',
  description: 'the version starts with a digit and has no prefix such as `v`',
  network: false,
  check(p) {
    const v = p.version;
    // The suggestion fixes every problem at once (`v1.0-` → `1.0`).
    const fixed = v.replace(/^v(?=\d)/i, '').replace(/[.\-_+~]+$/, '');
    if (/^v\d/i.test(v)) return [problem(`version \`${v}\` should not start with \`${v[0]}\`; write \`${fixed}\``, 'version')];
    if (!/^\d/.test(v)) return [problem(`version \`${v}\` should start with a digit (the upstream release number, e.g. 2.9.0)`, 'version')];
    if (/[.\-_+~]$/.test(v)) return [problem(`version \`${v}\` should not end with \`${v.slice(-1)}\`; write \`${fixed}\``, 'version')];
    return [];
  },
};

// ---------------------------------------------------------------------------------------------
// Metadata

const ARTICLE = /^(a|an|the)\s/i;

/** A text left to be written (`tsdsl import` writes `'TODO'`). */
const PLACEHOLDER = /^\s*(?:TODO|FIXME|XXX|TBD)\b[^a-z]*$/i;

/**
 * True when a lower-case first word is the package's own (lower-case) name, as in "hwloc
 * provides…" or "libgomp is…" for libgomp1: equal once punctuation and the soname digits go.
 */
function namesPackage(word: string, name: string): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '').replace(/\d+$/, '');
  const w = norm(word);
  // A short word only when it is the whole name (`r`, `x`): a one-letter package says its name so.
  return w.length > 0 && (w === norm(name) || (w.length >= 3 && norm(name).includes(w)));
}

const synopsisChecker: LintChecker = {
  name: 'synopsis',
  description: 'the synopsis is short, capitalised, with no leading article and no trailing period',
  network: false,
  check(p) {
    const s = p.synopsis;
    const out: Problem[] = [];
    const add = (m: string) => out.push(problem(m, 'synopsis'));
    if (!s.trim()) return [problem('synopsis is empty; say in a few words what the package is', 'synopsis')];
    if (PLACEHOLDER.test(s)) return [problem(`synopsis \`${s.trim()}\` is a placeholder; say in a few words what the package is`, 'synopsis')];
    if (s !== s.trim()) add('synopsis has leading or trailing white space');
    const t = s.trim();
    if (ARTICLE.test(t)) add(`synopsis should not start with an article: drop \`${t.split(/\s/)[0]}\``);
    else if (/^[a-z]/.test(t) && !namesPackage(t.split(/\s/)[0]!, p.name)) add(`synopsis should start with a capital letter: \`${t[0]!.toUpperCase()}${t.slice(1, 30)}…\``);
    if (/[.]$/.test(t) && !/\.\.\.$|etc\.$/.test(t)) add('synopsis should not end with a period');
    if (t.length > 80) add(`synopsis is ${t.length} characters long; keep it under 80 (the details go in the description)`);
    if (t.toLowerCase().startsWith(p.name.toLowerCase()) && !/^[\w+-]/.test(t.slice(p.name.length))) add(`synopsis should not start with the package name \`${p.name}\``);
    return out;
  },
};

const descriptionChecker: LintChecker = {
  name: 'description',
  description: 'the description is full sentences: capitalised (or the package name), ending with a period',
  network: false,
  check(p) {
    const d = p.description;
    const out: Problem[] = [];
    const add = (m: string) => out.push(problem(m, 'description'));
    if (!d.trim()) return [problem('description is empty; describe what the package does in a few sentences', 'description')];
    if (PLACEHOLDER.test(d)) return [problem(`description \`${d.trim().slice(0, 40)}\` is a placeholder; describe what the package does in a few sentences`, 'description')];
    if (d !== d.trim()) add('description has leading or trailing white space');
    const t = d.trim();
    const first = t.split(/[\s,.:;]/)[0] ?? '';
    if (/^[a-z]/.test(t) && !namesPackage(first, p.name))
      add(`description should start with a capital letter or the package name, not \`${first}\``);
    if (!/[.!?][)"'`]?$/.test(t)) add('description should end with a full stop');
    if (/ {2,}|\t/.test(t)) add('description has runs of white space (tabs or several spaces); use single spaces');
    if (t === p.synopsis.trim()) add('description repeats the synopsis; say more in it');
    return out;
  },
};

const licenseChecker: LintChecker = {
  name: 'license',
  description: 'the license is from the license table, listed once',
  network: false,
  readsSources: true,
  check(p, ctx) {
    const list: readonly License[] = Array.isArray(p.license) ? (p.license as readonly License[]) : [p.license as License];
    const out: Problem[] = [];
    // `tsdsl import` writes the license it guessed (or publicDomain when it found none) under a
    // TODO: until someone has checked it, it is not the package's license.
    const todo = ctx?.sources?.comments(p.location, ['license']).find((c) => /\bTODO\(license\)/.test(c));
    if (todo) out.push(problem(`license is still a guess to check (\`${todo.replace(/^\/\/\s*|^\/\*\s*|\s*\*\/$/g, '')}\`); set the real one and remove the comment`, 'license'));
    for (const l of list) if (!isKnownLicense(l)) out.push(problem(`license ${JSON.stringify(l)} is not in the license table; use a value of \`licenses\``, 'license'));
    const spdx = list.map((l) => l.spdx);
    const dup = spdx.filter((s, i) => spdx.indexOf(s) !== i);
    if (dup.length) out.push(problem(`license ${[...new Set(dup)].join(', ')} is listed more than once`, 'license'));
    return out;
  },
};

const homePageChecker: LintChecker = {
  name: 'home-page',
  description: 'the home page is a well-formed http(s) URL',
  network: false,
  check(p) {
    const h = p.homePage;
    if (!h) return [problem('home page is empty; give the project\'s web page', 'homePage')];
    let u: URL;
    try {
      u = new URL(h);
    } catch {
      return [problem(`home page \`${h}\` is not a well-formed URL`, 'homePage')];
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return [problem(`home page \`${h}\` should be an http(s) URL`, 'homePage')];
    if (!u.hostname.includes('.') || /\s/.test(h)) return [problem(`home page \`${h}\` has no valid host name`, 'homePage')];
    if (u.username || u.password) return [problem(`home page \`${h}\` should not hold a user name or password`, 'homePage')];
    return [];
  },
};

// ---------------------------------------------------------------------------------------------
// Source

/** `https://host/…/` prefixes of the fixed mirrors, longest first, for the mirror-URL advice. */
const mirrorPrefixes: Array<[string, string]> = Object.entries(MIRRORS)
  .flatMap(([name, roots]) => roots.map((r) => [r.replace(/^https?:\/\//, ''), name] as [string, string]))
  .sort((a, b) => b[0].length - a[0].length);

/** The `mirror://` form of a URL that points into a known mirror, if any. */
export function mirrorForm(url: string): string | undefined {
  const m = /^(?:https?|ftp):\/\/(.*)$/.exec(url);
  if (!m) return undefined;
  const rest = m[1]!;
  for (const [prefix, name] of mirrorPrefixes) if (rest.startsWith(prefix)) return `mirror://${name}/${rest.slice(prefix.length)}`;
  // Any Debian archive: its host comes from apt's sources, so the file is named by its pool path.
  const pool = /^[^/]+\/(?:[^/]+\/)*?debian\/(pool\/.+)$/.exec(rest);
  if (pool) return `mirror://debian/${pool[1]}`;
  return undefined;
}

function checkOrigin(o: Origin, p: Package, ctx: LintContext): Problem[] {
  const out: Problem[] = [];
  if (o.kind === 'url') {
    if (o.sha256 === undefined) out.push(problem('source is not pinned: give its sha256 (`tsdsl hash FILE`, or `sha256sum FILE`)', 'source'));
    // Zeros are what one writes until the file is at hand: the build would fail on the hash.
    else if (/^0+$/.test(o.sha256)) out.push(problem("sha256 is all zeros, a placeholder: give the file's (`tsdsl hash FILE` of the downloaded file; `tsdsl build -d PACKAGE --with-source=PACKAGE=URL` fetches it and prints it)", 'source', 'sha256'));
    else {
      // The hash as written, when it is a literal: a base-32 or SRI one is converted when loaded.
      const written = ctx.sources.literal(p.location, ['source', 'sha256']);
      if (written !== undefined && written !== o.sha256)
        out.push(problem(`sha256 should be written as lower-case hex (what \`sha256sum\` prints): '${o.sha256}'`, 'source', 'sha256'));
    }
    let sawMirror = false;
    for (const u of o.urls) {
      const m = mirrorForm(u);
      if (m) out.push(problem(`URL \`${u}\` should be written \`${m}\` (the mirror list then supplies every host)`, 'source', 'urls'));
      if (u.startsWith('mirror://')) sawMirror = true;
      else if (sawMirror && !m) out.push(problem(`upstream URL \`${u}\` comes after a mirror:// URL; list upstream URLs first, mirrors after`, 'source', 'urls'));
      if (u.startsWith('http://') && !m) out.push(problem(`URL \`${u}\` uses http://; use https:// where the host offers it`, 'source', 'urls'));
      if (u.startsWith('ftp://')) out.push(problem(`URL \`${u}\` is never tried: tsdsl fetches over https://, http:// and file://; give the https:// URL of the same file, or drop it`, 'source', 'urls'));
    }
  } else if (o.kind === 'git') {
    if (!/^[0-9a-f]{40}$/.test(o.commit)) out.push(problem(`git commit \`${o.commit}\` is a tag or branch, which can move; pin the 40-hex commit id`, 'source', 'commit'));
    if (o.sha256 === undefined) out.push(problem('git source is not pinned: give the sha256 of the checkout (`tsdsl hash -rx CLONE` of a clone checked out at the commit)', 'source'));
    else if (/^0+$/.test(o.sha256)) out.push(problem('sha256 is all zeros, a placeholder: give the checkout\'s (`tsdsl hash -rx CLONE` of a clone checked out at the commit)', 'source', 'sha256'));
  } else if (!existsSync(o.path)) {
    out.push(problem(`local source \`${o.path}\` does not exist`, 'source'));
  }
  return out;
}

const sourceChecker: LintChecker = {
  name: 'source',
  description: 'the source is pinned by a hex sha256, uses mirror:// URLs for mirrored hosts, upstream first',
  network: false,
  readsSources: true,
  check(p, ctx) {
    if (!p.source) return [];
    const stale = staleSourceParent(p);
    // The parent's tarball, built as another version: what it says it is, it is not.
    const inherited = stale
      ? [problem(`version ${p.version} keeps the source of \`${stale.name}@${stale.version}\`, which it inherits (${stale.source?.kind === 'url' ? stale.source.urls[0] : 'its git checkout'}); give this version's source too (\`source: url({ urls, sha256 })\`)`, 'version')]
      : [];
    return [...inherited, ...checkOrigin(p.source, p, ctx)];
  },
};

/** Does `url` answer? An HTTP status, or the network error's code. */
async function probe(url: string): Promise<{ ok: boolean; why: string }> {
  if (url.startsWith('file://')) return { ok: existsSync(new URL(url)), why: 'no such file' };
  const attempt = async (method: 'HEAD' | 'GET') => {
    const res = await fetch(url, { method, redirect: 'follow', signal: AbortSignal.timeout(20_000), ...(method === 'GET' ? { headers: { range: 'bytes=0-0' } } : {}) });
    await res.body?.cancel();
    return res.status;
  };
  try {
    let status = await attempt('HEAD');
    // Some servers refuse HEAD; ask for one byte instead.
    if (status === 405 || status === 501 || status === 403) status = await attempt('GET');
    return { ok: status < 400, why: `HTTP ${status}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { ok: false, why: err.cause?.code ?? (err.name === 'TimeoutError' ? 'timed out' : err.message) };
  }
}

const sourceAvailableChecker: LintChecker = {
  name: 'source-available',
  description: 'one of the source URLs (mirrors expanded) answers',
  network: true,
  async check(p) {
    const o = p.source;
    if (o?.kind !== 'url') return [];
    const { expandUrls } = await import('../build/mirrors.js');
    let candidates: string[];
    try {
      candidates = expandUrls(o.urls);
    } catch (e) {
      return [problem((e as Error).message, 'source', 'urls')];
    }
    const failures: string[] = [];
    for (const u of candidates) {
      const r = await probe(u);
      if (r.ok) return [];
      failures.push(`${u} (${r.why})`);
    }
    return [problem(`no source URL answers: ${failures.join(', ')}`, 'source', 'urls')];
  },
};

const PATCH_NAME = /^[a-z0-9][a-z0-9+._-]*\.(patch|diff)$/;

const patchChecker: LintChecker = {
  name: 'patch-file-names',
  description: 'patch files exist and are named PACKAGE-what.patch',
  network: false,
  check(p) {
    if (!p.source) return [];
    const out: Problem[] = [];
    for (const patch of p.source.patches) {
      if (typeof patch !== 'string') continue;
      const name = basename(patch);
      if (!existsSync(patch)) out.push(problem(`patch \`${patch}\` not found; add the file or fix its name`, 'source', 'patches'));
      if (!PATCH_NAME.test(name)) out.push(problem(`patch file name \`${name}\` should be lower case (letters, digits, \`+._-\`) and end in .patch or .diff: e.g. \`${name.toLowerCase().replace(/[^a-z0-9+._-]/g, '-').replace(/^[^a-z0-9]+/, '')}\``, 'source', 'patches'));
      // A patch an inherited package keeps from its parent is named after the parent.
      else if (![p, ...ancestors(p)].some((q) => name.startsWith(`${q.name}-`))) out.push(problem(`patch file name \`${name}\` should start with the package name: \`${p.name}-${name}\``, 'source', 'patches'));
      if (name.length > 100) out.push(problem(`patch file name \`${name}\` is ${name.length} characters long; keep it under 100 (tar's name limit)`, 'source', 'patches'));
    }
    return out;
  },
};

/**
 * Guix's `source-file-name`: a url() source named by its version alone (`v1.2.tar.gz`, from a
 * forge's archive URL) names a store item that says nothing of the package, and two packages'
 * tarballs of one version get the same name in the download cache's listings and build logs.
 */
const sourceFileNameChecker: LintChecker = {
  name: 'source-file-name',
  description: 'a url() source has a file name that says which package it is, not just its version',
  network: false,
  check(p) {
    const src = p.source;
    if (src?.kind !== 'url') return [];
    const name = src.fileName;
    const version = p.version.toLowerCase();
    const lower = name.toLowerCase();
    if (!(lower.startsWith(version) || lower.startsWith(`v${version}`) || lower.startsWith(`release-${version}`))) return [];
    const ext = /\.(tar\.(?:gz|bz2|xz|zst|lz|Z)|tgz|tbz2|txz|zip)$/.exec(name)?.[0] ?? '';
    return [problem(`the source file name \`${name}\` says nothing of the package (only its version): set \`fileName: '${p.name}-${p.version}${ext}'\` in url()`, 'source', 'urls')];
  },
};

// ---------------------------------------------------------------------------------------------
// Inputs

/** Programs run at build time only: they belong in nativeInputs. */
export const BUILD_TOOLS: readonly string[] = [
  'autoconf', 'automake', 'bison', 'cmake', 'cmake-minimal', 'flex', 'gettext', 'help2man', 'intltool', 'libtool',
  'm4', 'meson', 'nasm', 'ninja', 'pkg-config', 'pkgconf', 'swig', 'texinfo', 'yasm',
];

const nativeChecker: LintChecker = {
  name: 'inputs-should-be-native',
  description: 'build tools (pkgconf, bison, flex, cmake, …) are in nativeInputs, not inputs',
  network: false,
  check(p) {
    const out: Problem[] = [];
    // Propagated inputs are left alone: a tool users of the package run (bison runs m4) is propagated on purpose.
    // Each tool once, even when listed twice.
    for (const name of new Set(p.inputs.map((i) => i.name)))
      if (BUILD_TOOLS.includes(name)) out.push(problem(`\`${name}\` is a build tool; move it from inputs to nativeInputs`, 'inputs'));
    return out;
  },
};

const flagVariablesChecker: LintChecker = {
  name: 'flag-variables',
  description: 'flags name an input\'s prefix as ${name}, and name only variables the build sets; phases name no near miss of an input',
  network: false,
  check(p) {
    const out: Problem[] = [];
    // Flags are not run through a shell: only `${name}` is replaced (by the input's prefix, or `${out}`).
    const inputs = [...p.inputs, ...p.nativeInputs, ...p.propagatedInputs].map((i) => variableOf(i.name));
    const snippets = packageSnippets(p);
    const known = new Set(['out', ...p.outputs, ...inputs]);
    const set = new Set([...known, ...BUILD_ENV_NAMES, ...Object.keys(p.arguments.env ?? {}), ...bagVariables(p)]);
    for (const field of ['configureFlags', 'makeFlags', 'cmakeFlags'] as const) {
      for (const flag of p.arguments[field] ?? []) {
        for (const m of flag.matchAll(/(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)/g)) {
          if (known.has(m[1]!)) out.push(problem(`\`${flag}\`: \`$${m[1]}\` is passed as written (flags go to the build without a shell); write \`\${${m[1]}}\``, 'arguments'));
        }
        for (const name of flagReferences(flag)) {
          if (set.has(name) || mayBeBuildVariable(name) || snippetsSet(name, snippets)) continue;
          out.push(problem(`\`${flag}\`: \`\${${name}}\` is not an input of this package nor a variable of its build${didYouMean(name, known, (c) => '${' + c + '}')}`, 'arguments'));
        }
      }
    }
    // Phases are shell, with variables of their own: a name is said only when it is set nowhere
    // and is a near miss of an input's (`${zlbi}`, which the shell would expand to nothing).
    for (const [phase, script] of Object.entries(p.arguments.phases ?? {})) {
      for (const name of new Set(flagReferences(script))) {
        if (set.has(name) || mayBeBuildVariable(name) || snippetsSet(name, snippets)) continue;
        const close = didYouMean(name, known, (c) => '${' + c + '}');
        if (close) out.push(problem(`phase \`${phase}\`: \`\${${name}}\` is set nowhere (the shell expands it to nothing)${close}`, 'arguments'));
      }
    }
    return out;
  },
};

/** The variables of every package in the bag: inputs, what they propagate, the build system's (`${gcc}`). */
function bagVariables(p: Package): string[] {
  const seen = new Set<Package>();
  const stack = [p.inputs, p.nativeInputs, p.propagatedInputs, p.buildSystem.toolchain(), p.buildSystem.tools()].flat();
  while (stack.length) {
    const q = stack.pop()!;
    if (seen.has(q)) continue;
    seen.add(q);
    stack.push(...q.propagatedInputs);
  }
  // An input put in by a rewrite is also known by the label of what it replaced.
  return [...[...seen].map((q) => q.name), ...(inputLabels(p)?.values() ?? [])].map(variableOf);
}

const definitionsChecker: LintChecker = {
  name: 'duplicate-definitions',
  description: 'no other definition of the collection (your files or tsdsl\'s) has the same name and version: a command naming it would take one of them, the one loaded last',
  network: false,
  check(p, ctx) {
    if (!ctx.collection || p.properties['hidden'] === true) return [];
    // Variants of one definition exported beside it (`mine`, `withVariants(mine, …)`) are one.
    const same = ctx.collection.versions(p.name).filter((q) => q.version === p.version && q.properties['hidden'] !== true);
    const others = same.filter((q) => q !== p && !isVariantOf(q, p) && !isVariantOf(p, q)).filter((q, i, all) => !all.slice(0, i).some((r) => isVariantOf(q, r)));
    if (others.length === 0) return [];
    const chosen = same[0]!;
    const taken = chosen === p || isVariantOf(chosen, p) || isVariantOf(p, chosen) ? 'this one' : `the one at ${formatLocation(chosen.location)}`;
    return [
      problem(
        `\`${fullName(p)}\` is also defined at ${others.map((q) => formatLocation(q.location)).join(', ')}; a command naming it takes ${taken}, loaded last. Give one another name or version, or remove one (a package of your own replacing tsdsl's is better made with inherit() under another name, or given with --with-input)`,
        'name',
      ),
    ];
  },
};

const duplicateChecker: LintChecker = {
  name: 'duplicate-inputs',
  description: 'no package is listed twice among inputs and propagatedInputs, or twice in nativeInputs, no two inputs share a build variable (foo-bar, foo_bar), and none is named as a variable the build sets (libc, an output)',
  network: false,
  check(p) {
    // Native inputs run on the build machine; the same package among the (propagated) inputs is
    // for the target, so m4 may be both a native input and a propagated one (bison).
    const out: Problem[] = [];
    for (const group of [['inputs', 'propagatedInputs'], ['nativeInputs']] as const) {
      const where = new Map<string, string[]>();
      for (const field of group)
        for (const i of p[field]) {
          const l = where.get(i.name) ?? [];
          l.push(field);
          where.set(i.name, l);
        }
      for (const [name, fields] of where)
        if (fields.length > 1)
          out.push(problem(`\`${name}\` is listed ${fields.length} times (${fields.join(', ')}); keep it once`, fields[fields.length - 1]!));
    }
    // Inputs whose names differ only in `-`, `.` or `_` share one build variable (`$foo_bar`),
    // set to the first of them (native inputs first, as lowering sets it): the others have none.
    const byVariable = new Map<string, Array<[string, string]>>();
    for (const field of ['nativeInputs', 'inputs', 'propagatedInputs'] as const) {
      for (const i of p[field]) {
        const v = inputVariable(i.name);
        // Named as a variable the build sets itself (`out`, an output, `name`, `system`): none of its own.
        const own = variableOf(i.name);
        if ((v === '' && /^[A-Za-z_]/.test(own)) || p.outputs.includes(own)) {
          out.push(problem(`input \`${i.name}\` has no build variable: \`$${own}\` is the build's own (${p.outputs.includes(own) ? 'an output' : 'set by every build'}), so a flag naming \`\${${own}}\` does not get its prefix; find it through \`$inputs\`, or give the package another name`, field));
          continue;
        }
        if (v === '') continue;
        const l = byVariable.get(v) ?? [];
        if (!l.some(([n]) => n === i.name)) l.push([i.name, field]);
        byVariable.set(v, l);
      }
    }
    for (const [v, named] of byVariable) {
      if (named.length < 2) continue;
      const names = named.map(([n]) => `\`${n}\``);
      out.push(
        problem(
          `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are all known to the build as \`$${v}\`, which holds the prefix of \`${named[0]![0]}\` only (the others are on the search paths and in \`$inputs\` or \`$nativeInputs\`, without a variable); a flag naming \`\${${v}}\` gets \`${named[0]![0]}\``,
          named[1]![1],
        ),
      );
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Variants

/** A stable text of everything a variant can change: inputs, arguments, source, outputs, properties. */
function fingerprint(p: Package): string {
  return JSON.stringify(
    { i: p.inputs, n: p.nativeInputs, g: p.propagatedInputs, a: p.arguments, s: p.source, o: p.outputs, p: p.properties, b: p.buildSystem.name },
    // A BigInt in properties (an open map) made JSON.stringify throw: an internal error of lint.
    (_k, v: unknown) => (isPackage(v) ? `${fullName(v)}:${JSON.stringify(v.variants)}:${fingerprintId(v)}` : typeof v === 'bigint' ? `${v}n` : v),
  );
}

/** Distinguish two packages with the same name, version and variants (e.g. other inputs). */
const ids = new WeakMap<Package, number>();
let nextId = 0;
function fingerprintId(p: Package): number {
  let id = ids.get(p);
  if (id === undefined) ids.set(p, (id = nextId++));
  return id;
}

/** The values a variant can take other than its default. */
/** Values of a variant other than `current` (the package's own choice, which need not be the default). */
function otherValues(d: VariantDecl, current: VariantValue | undefined): VariantValue[] {
  const now = current ?? (typeof d === 'object' ? d.default : d);
  if (typeof now === 'boolean') return [!now];
  // A number may matter only past a threshold (`v.jobs > 8`): try a spread of values.
  if (typeof now === 'number') return [...new Set([0, 1, 2, now - 1, now + 1, now * 2, now * 10, 64, 1024, 1e6])].filter((x) => x !== now);
  return typeof d === 'object' && 'values' in d ? d.values.filter((v) => v !== now) : [];
}

const variantsChecker: LintChecker = {
  name: 'unused-variants',
  description: 'every declared variant changes something (inputs, arguments, source, …)',
  network: false,
  check(p) {
    const out: Problem[] = [];
    const base = fingerprint(p);
    for (const [name, decl] of Object.entries(p.variantDecls)) {
      const values = otherValues(decl, p.variants[name]);
      if (!values.length) continue;
      const used = values.some((v) => {
        try {
          return fingerprint(withVariants(p, { [name]: v })) !== base;
        } catch {
          return true; // a value that fails is used somewhere; the derivation checker reports failures
        }
      });
      if (!used) out.push(problem(`variant \`${name}\` changes nothing: no input, argument or source depends on it; use it or remove it`, 'variants', name));
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Derivation and formatting

const derivationChecker: LintChecker = {
  name: 'derivation',
  description: 'the package lowers to a derivation, with each other value of its boolean and listed variants too',
  network: false,
  async check(p, ctx) {
    const lowerer = await ctx.lowerer();
    // A flag naming an unknown `${name}` is flag-variables' finding, at the flag (which checks
    // the package as given; other variant values are reported below); a source without a
    // sha256 is the source checker's (lint does not fetch it; `build -d` would, and hash it).
    const own = (e: unknown) => !(e as { flagReference?: boolean }).flagReference && !(e as { unpinned?: boolean }).unpinned;
    // It may lower, but its build would stop at once, after its inputs were built.
    const empty =
      p.buildSystem.name === 'trivial' && !p.arguments.phases?.['build']
        ? [problem("the trivial build system runs arguments.phases.build, which is not given, so the build would fail; write what makes $out: phases: { build: 'mkdir -p $out …' }", 'buildSystem')]
        : [];
    // Its script runs with the bash of its native inputs; without one, with a /bin/sh the sandbox lacks.
    // The list lowering takes its shell from: native and implicit inputs, with what they propagate.
    if (p.buildSystem.name === 'trivial' && p.arguments.phases?.['build'] && !withPropagated(p.nativeInputs, implicitInputs(p.buildSystem)).some((i) => i.name === 'bash')) {
      empty.push(problem("the trivial build system runs arguments.phases.build with the bash of nativeInputs, and none is there, so the build would find no shell: add it, nativeInputs: [bash, coreutils] (import { bash, coreutils } from 'tsdsl/packages')", 'nativeInputs'));
    }
    try {
      await ctx.prepare(p);
      lowerer.lowerGrafted(p);
    } catch (e) {
      return own(e) ? [...empty, problem(`lowering to a derivation fails: ${(e as Error).message}`)] : empty;
    }
    // A recipe that fails only with another variant value (`mumps+int64`) fails when a user asks
    // for it: each value is tried alone (numbers, which have no list of values, are not).
    const out: Problem[] = [...empty];
    for (const [name, decl] of Object.entries(p.variantDecls)) {
      if (typeof p.variants[name] === 'number') continue;
      for (const v of otherValues(decl, p.variants[name])) {
        try {
          const q = withVariants(p, { [name]: v });
          await ctx.prepare(q);
          lowerer.lowerGrafted(q);
        } catch (e) {
          const choice = choiceText(name, v);
          // The package's place and the choice are said here already: not again from the error.
          const said = (e instanceof Error ? e.message : String(e)).replace(/^package `[^`]*` at \S+: /, '').replace(` threw with ${choice}:`, ' threw:');
          out.push(problem(`with ${choice}, ${said}`, 'variants', name));
        }
      }
    }
    return out;
  },
};

const styled = new WeakMap<object, readonly Problem[]>();

const formattingChecker: LintChecker = {
  name: 'formatting',
  description: 'the definition is in the canonical form of `tsdsl style` (field order, sorted inputs)',
  network: false,
  readsSources: true,
  async check(p, ctx) {
    const obj = ctx.sources.definition(p.location);
    if (!obj || !p.location) return [];
    // Packages made by one helper share a definition: style it once.
    const hit = styled.get(obj);
    if (hit) return hit;
    const { styleDefinition } = await import('../edit/style.js');
    const file = p.location.file;
    const problems = styleDefinition(obj).map((e) => {
      const { line, column } = obj.getSourceFile().getLineAndColumnAtPos(e.pos);
      const shown = file.startsWith(process.cwd() + sep) ? file.slice(process.cwd().length + 1) : file;
      return { message: `${e.message}; run \`tsdsl style ${shown}\``, at: { file, line, column } };
    });
    styled.set(obj, problems);
    return problems;
  },
};

/** Every checker, in `--list-checkers` order. */
export const checkers: readonly LintChecker[] = [
  nameChecker,
  versionChecker,
  synopsisChecker,
  descriptionChecker,
  licenseChecker,
  homePageChecker,
  sourceChecker,
  sourceAvailableChecker,
  sourceFileNameChecker,
  patchChecker,
  nativeChecker,
  flagVariablesChecker,
  duplicateChecker,
  definitionsChecker,
  variantsChecker,
  derivationChecker,
  formattingChecker,
];
