/**
 * Builtin builders: derivations whose builder is `builtin:NAME` are realised by tsdsl itself,
 * outside the sandbox, because they need the network (fetches) or nothing but file operations
 * (unpacking a .deb, a symlink union, a graft). Each writes the derivation's outputs into the
 * host directories it is given; the scheduler registers them like any other build's outputs.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { TsdslError } from '../errors.js';
import type { Derivation } from '../derivation/aterm.js';
import { fetchGit, fetchUrl } from './fetch.js';

/** What a builtin gets: the derivation, where each output goes, how to find input paths, a log. */
export interface BuiltinContext {
  readonly drv: Derivation;
  /** Output name → host directory (or file path) to create. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Host path of a logical store path (inputs are valid in the store). */
  physical(storePath: string): string;
  log(line: string): void;
  onProgress?(bytes: number, total: number | undefined): void;
  signal?: AbortSignal;
}

export type Builtin = (ctx: BuiltinContext) => Promise<void>;

/** `builtin:fetchurl`: the first URL that answers, checked against the declared sha256. */
const fetchurl: Builtin = async (ctx) => {
  const env = ctx.drv.env;
  const urls = (env['urls'] ?? env['url'] ?? '').split(' ').filter(Boolean);
  const out = ctx.drv.outputs['out']!;
  const got = await fetchUrl(
    { urls, sha256: out.hash, fileName: env['name'] ?? 'download' },
    { log: ctx.log, ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) },
  );
  copyFileSync(got.path, ctx.outputs['out']!);
};

/** `builtin:git`: a checkout of the commit, without `.git`. */
const gitBuiltin: Builtin = async (ctx) => {
  const env = ctx.drv.env;
  const got = await fetchGit(
    { url: env['url']!, commit: env['commit']!, recursive: env['recursive'] === '1', sha256: ctx.drv.outputs['out']!.hash },
    ctx.signal ? { signal: ctx.signal } : {},
  );
  cpSync(got.path, ctx.outputs['out']!, { recursive: true, verbatimSymlinks: true });
};

/** The members of an `ar` archive (a .deb is one): name → [offset, size]. */
export function arMembers(file: string): Map<string, [number, number]> {
  const fd = openSync(file, 'r');
  try {
    const magic = Buffer.alloc(8);
    readSync(fd, magic, 0, 8, 0);
    if (magic.toString('latin1') !== '!<arch>\n') throw new TsdslError(`${file} is not a Debian package (no ar header)`);
    const members = new Map<string, [number, number]>();
    let pos = 8;
    const header = Buffer.alloc(60);
    for (;;) {
      if (readSync(fd, header, 0, 60, pos) < 60) break;
      const name = header.toString('latin1', 0, 16).trim().replace(/\/$/, '');
      const size = Number(header.toString('latin1', 48, 58).trim());
      members.set(name, [pos + 60, size]);
      pos += 60 + size + (size % 2);
    }
    return members;
  } finally {
    closeSync(fd);
  }
}

/**
 * `builtin:unpack-deb`: the data archive of a .deb, unpacked with its permissions and
 * symlinks, owned by whoever runs tsdsl (`--no-same-owner`). No maintainer script runs.
 */
const unpackDeb: Builtin = async (ctx) => {
  const deb = ctx.physical(ctx.drv.env['src']!);
  const members = arMembers(deb);
  const data = [...members.keys()].find((m) => m.startsWith('data.tar'));
  if (!data) throw new TsdslError(`${ctx.drv.env['src']} has no data.tar member; is it a Debian binary package?`);
  const [offset, size] = members.get(data)!;
  const fd = openSync(deb, 'r');
  const bytes = Buffer.alloc(size);
  try {
    readSync(fd, bytes, 0, size, offset);
  } finally {
    closeSync(fd);
  }
  const out = ctx.outputs['out']!;
  mkdirSync(out, { recursive: true });
  const flag = data.endsWith('.xz') ? '-J' : data.endsWith('.gz') ? '-z' : data.endsWith('.zst') ? '--zstd' : data.endsWith('.bz2') ? '-j' : '';
  execFileSync('tar', ['-x', ...(flag ? [flag] : []), '-f', '-', '-C', out, '--no-same-owner', '--delay-directory-restore'], {
    input: bytes,
    stdio: ['pipe', 'ignore', 'pipe'],
    maxBuffer: 64 << 20,
  });
};

/** Merge `src` into `dest` as symlinks to the logical paths (`logical` mirrors `src`). */
function linkTree(src: string, logical: string, dest: string, ctx: BuiltinContext, conflicts: string[]): void {
  for (const name of readdirSync(src).sort()) {
    const s = join(src, name);
    const d = join(dest, name);
    const st = lstatSync(s);
    let existing: ReturnType<typeof lstatSync> | undefined;
    try {
      existing = lstatSync(d);
    } catch {
      existing = undefined;
    }
    if (st.isDirectory()) {
      if (!existing) mkdirSync(d);
      else if (!existing.isDirectory()) {
        conflicts.push(relative(dest, d));
        continue;
      }
      linkTree(s, join(logical, name), d, ctx, conflicts);
    } else if (!existing) symlinkSync(join(logical, name), d);
    else conflicts.push(d);
  }
}

/** `builtin:union`: a symlink union of the inputs (first one wins on a conflict). */
const unionBuiltin: Builtin = async (ctx) => {
  const out = ctx.outputs['out']!;
  mkdirSync(out, { recursive: true });
  const conflicts: string[] = [];
  for (const input of (ctx.drv.env['inputs'] ?? '').split(' ').filter(Boolean)) {
    const phys = ctx.physical(input);
    if (lstatSync(phys).isDirectory()) linkTree(phys, input, out, ctx, conflicts);
  }
  if (conflicts.length) ctx.log(`union: ${conflicts.length} files provided by several inputs; the first input wins (e.g. ${conflicts[0]})`);
};

/**
 * `builtin:graft`: a copy of the original output in which every reference to a replaced
 * dependency points to its replacement. Store paths are rewritten in place, so a replacement
 * must have a file name of the same length (as in Guix).
 */
const graftBuiltin: Builtin = async (ctx) => {
  const env = ctx.drv.env;
  const pairs = (env['mapping'] ?? '').split(' ').filter(Boolean).map((m) => m.split('=') as [string, string]);
  for (const [from, to] of pairs) {
    if (from.length !== to.length) {
      throw new TsdslError(`cannot graft ${to} in place of ${from}: their file names differ in length; give the replacement the same name and version length`);
    }
  }
  const rewrite = (buf: Buffer): Buffer => {
    let text = buf.toString('latin1');
    for (const [from, to] of pairs) text = text.split(from).join(to);
    return Buffer.from(text, 'latin1');
  };
  const copy = (src: string, dest: string): void => {
    const st = lstatSync(src);
    if (st.isSymbolicLink()) symlinkSync(rewrite(Buffer.from(readlinkSync(src), 'latin1')).toString('latin1'), dest);
    else if (st.isDirectory()) {
      mkdirSync(dest);
      for (const n of readdirSync(src)) copy(join(src, n), join(dest, n));
    } else writeFileSync(dest, rewrite(readFileSync(src)), { mode: st.mode & 0o777 });
  };
  for (const o of (env['original'] ?? '').split(' ').filter(Boolean)) {
    const [name, path] = o.split('=') as [string, string];
    const dest = ctx.outputs[name];
    if (dest) copy(ctx.physical(path), dest);
  }
};

/** Search-path variables of a profile: variable → directories inside it, in order. */
export const PROFILE_SEARCH_PATHS: ReadonlyArray<readonly [string, readonly string[]]> = [
  // usr/bin: Debian's binary packages (coreutils' env, …) keep programs there, as the builders' PATH knows.
  ['PATH', ['bin', 'sbin', 'usr/bin', 'usr/sbin']],
  ['LIBRARY_PATH', ['lib']],
  ['CPATH', ['include']],
  ['PKG_CONFIG_PATH', ['lib/pkgconfig', 'share/pkgconfig']],
  ['MANPATH', ['share/man']],
  ['INFOPATH', ['share/info']],
];

/**
 * The search paths of a profile: variable → `<logical profile>/<dir>:…` for each directory of
 * PROFILE_SEARCH_PATHS that exists in `physical` (the profile's files here). One function for
 * the profile's etc/profile, packs, `tsdsl run` and `tsdsl shell`.
 */
export function profileSearchPaths(physical: string, logical: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [variable, dirs] of PROFILE_SEARCH_PATHS) {
    const present = dirs.filter((d) => {
      try {
        return lstatSync(join(physical, d)).isDirectory();
      } catch {
        return false;
      }
    });
    if (present.length) env[variable] = present.map((d) => `${logical}/${d}`).join(':');
  }
  return env;
}

/**
 * `builtin:profile`: the packages' outputs as one tree of symlinks (the first package wins a
 * conflict), its `manifest.json`, and `etc/profile` exporting the search paths that exist.
 */
const profileBuiltin: Builtin = async (ctx) => {
  await unionBuiltin(ctx);
  const out = ctx.outputs['out']!;
  const self = ctx.drv.outputs['out']!.path;
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(JSON.parse(ctx.drv.env['manifest'] ?? '{}'), null, 2)}\n`);
  const lines = ['# Generated by tsdsl: source this file to use the profile.', `TSDSL_PROFILE=${self}`, 'export TSDSL_PROFILE'];
  for (const [variable, value] of Object.entries(profileSearchPaths(out, self))) {
    lines.push(`export ${variable}="${value}\${${variable}:+:}\$${variable}"`);
  }
  mkdirSync(join(out, 'etc'), { recursive: true });
  const profile = join(out, 'etc', 'profile');
  try {
    lstatSync(profile);
    ctx.log('profile: a package ships etc/profile; keeping it, tsdsl\'s is etc/profile.d/tsdsl.sh');
    mkdirSync(join(out, 'etc', 'profile.d'), { recursive: true });
    writeFileSync(join(out, 'etc', 'profile.d', 'tsdsl.sh'), `${lines.join('\n')}\n`);
  } catch {
    writeFileSync(profile, `${lines.join('\n')}\n`);
  }
};

/** The builtin builders by name (`builtin:NAME`). */
export const builtins: Readonly<Record<string, Builtin>> = {
  fetchurl,
  git: gitBuiltin,
  'unpack-deb': unpackDeb,
  union: unionBuiltin,
  graft: graftBuiltin,
  profile: profileBuiltin,
};
