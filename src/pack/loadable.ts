/**
 * Whether a pack's programs load from the pack alone. The build's validate phase checks each ELF
 * file's own NEEDED entries against its own RUNPATH; this follows the loader's whole walk from each
 * program of the profile (bin/, sbin/), as glibc's ld.so does it: a library already loaded
 * satisfies a NEEDED of the same soname, otherwise the requesting object's DT_RPATH (and, when
 * neither has a DT_RUNPATH, the program's), then its DT_RUNPATH. What is found nowhere in the
 * closure would be looked for in the default directories (/lib, /usr/lib) of the machine the pack
 * runs on: the program fails there, or loads a foreign copy. Debian's run-time libraries have no
 * RUNPATH (libgfortran.so.5 needs libquadmath.so.0), which is how such a pack comes about.
 */
import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { readElf, type ElfInfo } from '../store/elf.js';

export interface LoadProblem {
  /**
   * `needed`: a library an object needs is not found; `interpreter`: programs ask for a loader
   * outside the pack; `script`: scripts (`#!`) ask for an interpreter the pack does not hold.
   */
  kind: 'needed' | 'interpreter' | 'script';
  /**
   * The object (logical path) whose NEEDED entry is not found; for `interpreter`, the store item
   * of the programs; for `script`, `host` or `store`: where the interpreter's path points.
   */
  object: string;
  /** The library it needs; for `interpreter`, the loader the programs ask for. */
  needed: string;
  /** The programs whose loading reaches the problem (logical paths, sorted). */
  programs: string[];
  /** A store directory the object searches that is not in the closure (its item was left out). */
  outsideClosure: string | undefined;
}

export interface LoadCheckInput {
  storeDir: string;
  /** The closure: every store item of the pack, with where its files are here. */
  items: ReadonlyArray<{ path: string; physical: string }>;
  /** Directories (logical, e.g. `<profile>/bin`) whose ELF programs (and scripts) are checked. */
  programDirs: readonly string[];
  /** The pack's `-S` links (`/bin` → `bin`, relative to `profile`): a script's `#!/bin/sh` may be one of them. */
  links?: ReadonlyArray<{ readonly link: string; readonly target: string }>;
  profile?: string;
}

/** Every way the programs of `programDirs` would reach outside the closure when loaded. */
export function checkLoadable(input: LoadCheckInput): LoadProblem[] {
  const { storeDir } = input;
  const physicalOf = new Map(input.items.map((i) => [i.path, i.physical]));
  const itemOf = (logical: string): string | undefined => {
    if (!logical.startsWith(storeDir + '/')) return undefined;
    const slash = logical.indexOf('/', storeDir.length + 1);
    return slash < 0 ? logical : logical.slice(0, slash);
  };
  const toPhysical = (logical: string): string | undefined => {
    const item = itemOf(logical);
    const base = item === undefined ? undefined : physicalOf.get(item);
    return base === undefined ? undefined : base + logical.slice(item!.length);
  };

  /** The path without symbolic links, if it exists inside the closure. */
  const resolve = (path: string, hops = 0): string | undefined => {
    if (!path.startsWith(storeDir + '/')) return undefined;
    const parts = path.slice(storeDir.length + 1).split('/');
    let cur = storeDir;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        cur = dirname(cur);
        continue;
      }
      const next = `${cur}/${part}`;
      const phys = toPhysical(next);
      if (phys === undefined) return undefined;
      let link: string | undefined;
      try {
        link = lstatSync(phys).isSymbolicLink() ? readlinkSync(phys) : undefined;
      } catch {
        return undefined;
      }
      if (link !== undefined) {
        if (hops >= 40) return undefined;
        const target = isAbsolute(link) ? link : `${cur}/${link}`;
        const rest = parts.slice(i + 1).join('/');
        return resolve(rest ? `${target}/${rest}` : target, hops + 1);
      }
      cur = next;
    }
    return cur;
  };

  const elfCache = new Map<string, ElfInfo | undefined>();
  const elfOf = (logical: string): ElfInfo | undefined => {
    if (!elfCache.has(logical)) {
      let info: ElfInfo | undefined;
      try {
        const phys = toPhysical(logical);
        info = phys !== undefined && lstatSync(phys).isFile() ? readElf(phys) : undefined;
      } catch {
        info = undefined;
      }
      elfCache.set(logical, info);
    }
    return elfCache.get(logical);
  };

  // The programs: ELF files with an interpreter in the given directories; and the scripts.
  const programs = new Set<string>();
  const scripts = new Map<string, string>();
  for (const dir of input.programDirs) {
    const real = resolve(dir);
    const phys = real === undefined ? undefined : toPhysical(real);
    if (phys === undefined) continue;
    let names: string[];
    try {
      names = readdirSync(phys).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const p = resolve(`${real}/${name}`);
      if (p === undefined) continue;
      if (elfOf(p)?.interpreter !== undefined) programs.add(p);
      else {
        const interpreter = shebangOf(toPhysical(p));
        if (interpreter !== undefined) scripts.set(`${real}/${name}`, interpreter);
      }
    }
  }

  const problems = new Map<string, LoadProblem>();
  const report = (kind: LoadProblem['kind'], object: string, needed: string, program: string, outsideClosure: string | undefined): void => {
    const key = `${kind}\0${object}\0${needed}`;
    const known = problems.get(key);
    if (known) {
      if (!known.programs.includes(program)) known.programs.push(program);
    } else problems.set(key, { kind, object, needed, programs: [program], outsideClosure });
  };
  const outside = (path: string): string | undefined => {
    const item = itemOf(path);
    return item !== undefined && !physicalOf.has(item) ? item : undefined;
  };
  const expand = (dirs: readonly string[] | undefined, origin: string): string[] =>
    (dirs ?? []).map((d) => d.replaceAll('${ORIGIN}', origin).replaceAll('$ORIGIN', origin));

  // A script's interpreter: in the closure, or where a -S link puts a file of the profile.
  const linked = (path: string): string | undefined => {
    if (!input.profile) return undefined;
    for (const { link, target } of input.links ?? []) {
      if (path === link || path.startsWith(`${link}/`)) return resolve(`${input.profile}/${target}${path.slice(link.length)}`);
    }
    return undefined;
  };
  for (const [script, interpreter] of scripts) {
    const inStore = interpreter.startsWith(`${storeDir}/`);
    if (inStore ? resolve(interpreter) === undefined : linked(interpreter) === undefined) {
      report('script', inStore ? 'store' : 'host', interpreter, script, outside(interpreter));
    }
  }

  for (const program of programs) {
    const main = elfOf(program)!;
    const loaded = new Set<string>();
    const interpreter = resolve(main.interpreter!);
    if (interpreter === undefined) {
      // The program cannot start from the pack at all; what it needs would come from the host too.
      report('interpreter', itemOf(program)!, main.interpreter!, program, outside(main.interpreter!));
      continue;
    }
    loaded.add(elfOf(interpreter)?.soname ?? interpreter.slice(interpreter.lastIndexOf('/') + 1));
    const seen = new Set<string>([program]);
    const queue: string[] = [program];
    while (queue.length) {
      const object = queue.shift()!;
      const info = elfOf(object);
      if (!info) continue;
      const origin = dirname(object);
      for (const needed of info.needed) {
        if (loaded.has(needed)) continue;
        const dirs: string[] = [];
        if (info.runpath === undefined) {
          dirs.push(...expand(info.rpath, origin));
          if (main.runpath === undefined && object !== program) dirs.push(...expand(main.rpath, dirname(program)));
        }
        dirs.push(...expand(info.runpath, origin));
        let found: string | undefined;
        for (const d of dirs) {
          found = resolve(needed.includes('/') ? needed : `${d}/${needed}`);
          if (found !== undefined && elfOf(found)) break;
          found = undefined;
        }
        loaded.add(needed);
        if (found === undefined) {
          report('needed', object, needed, program, dirs.map(outside).find((item) => item !== undefined));
          continue;
        }
        const soname = elfOf(found)!.soname;
        if (soname) loaded.add(soname);
        if (!seen.has(found)) {
          seen.add(found);
          queue.push(found);
        }
      }
    }
  }
  return [...problems.values()]
    .map((p) => ({ ...p, programs: p.programs.sort() }))
    .sort((a, b) => (a.object === b.object ? (a.needed < b.needed ? -1 : a.needed > b.needed ? 1 : 0) : a.object < b.object ? -1 : 1));
}

/** The interpreter a `#!` line names (its first word), if the file starts with one. */
function shebangOf(physical: string | undefined): string | undefined {
  if (physical === undefined) return undefined;
  let head: string;
  try {
    const fd = openSync(physical, 'r');
    try {
      const buf = Buffer.alloc(256);
      head = buf.toString('latin1', 0, readSync(fd, buf, 0, 256, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const m = /^#!\s*(\S+)/.exec(head);
  return m?.[1];
}

/** `a, b, c and 4 more`. */
function fewNames(names: readonly string[]): string {
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
}

/** One paragraph per problem, for `tsdsl pack`'s warnings. */
export function describeLoadProblem(p: LoadProblem): string {
  const seenFrom = `${p.programs[0]}${p.programs.length > 1 ? ` and ${p.programs.length - 1} other program${p.programs.length > 2 ? 's' : ''}` : ''}`;
  if (p.kind === 'script') {
    const names = p.programs.map((q) => q.slice(q.lastIndexOf('/') + 1));
    const list = fewNames(names);
    const them = names.length === 1 ? 'it runs' : 'they run';
    return p.object === 'host'
      ? `${names.length === 1 ? 'the script' : `${names.length} scripts`} ${list} ${names.length === 1 ? 'asks' : 'ask'} for ${p.needed} (its #! line), which the pack does not hold: ${them} only where the host's ${p.needed} is seen (the pack's store unpacked on the host and its programs run from there), not under \`tsdsl run\`, in a container or a Docker image. ` +
          `Add it to the pack (\`-S ${p.needed.slice(0, p.needed.lastIndexOf('/')) || '/'}=bin\` with a package providing ${p.needed.slice(p.needed.lastIndexOf('/') + 1)} among those packed), or list a package providing it among the script's package's inputs: its build (the shebangs phase) then writes that store path in the #! line`
      : `${names.length === 1 ? 'the script' : `${names.length} scripts`} ${list} ${names.length === 1 ? 'asks' : 'ask'} for ${p.needed} (its #! line), which is not in the pack${p.outsideClosure ? ` (${p.outsideClosure} is not in the closure)` : ''}: add the package providing it to the script's package's inputs, so that it is a reference`;
  }
  if (p.kind === 'interpreter') {
    const names = p.programs.map((q) => q.slice(p.object.length + 1));
    const list = fewNames(names);
    return (
      `${names.length === 1 ? 'the program' : `${names.length} programs`} of ${p.object} (${list}) ${names.length === 1 ? 'asks' : 'ask'} for the loader ${p.needed}, ` +
      `which is not in the pack${p.outsideClosure ? ` (${p.outsideClosure} is not in the closure)` : ''}: ${names.length === 1 ? 'it starts' : 'they start'} only where the host has a compatible C library at that path. ` +
      `Prebuilt binaries (such as the toolchain's Debian packages) are made this way; pack a package built from source instead, which is linked against the store's C library.`
    );
  }
  if (p.outsideClosure) {
    return `${p.object} needs ${p.needed} from ${p.outsideClosure}, which the pack does not hold (loaded from ${seenFrom}): the item was not recorded as a reference of the package that uses it. Rebuild that package (\`tsdsl build --check\`) and report the package definition if it persists.`;
  }
  return (
    `${p.object} needs ${p.needed}, which none of its RUNPATH directories hold and nothing loads before it (loaded from ${seenFrom}): ` +
    `where the pack runs, the loader looks for it in that machine's /lib and /usr/lib, so the program fails there or loads a foreign copy. ` +
    `Link the program against ${p.needed} too (e.g. -l${p.needed.replace(/^lib/, '').replace(/\.so.*$/, '')} -Wl,--no-as-needed), or give ${p.object.slice(p.object.lastIndexOf('/') + 1)} a RUNPATH (patchelf --set-rpath).`
  );
}
