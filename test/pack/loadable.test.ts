/**
 * The pack's load check (src/pack/loadable.ts) and the ELF reader under it (src/store/elf.ts),
 * on small ELF files written here with exactly the dynamic sections each case needs, laid out
 * as store items in a temporary directory.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLoadable, describeLoadProblem } from '../../src/pack/loadable.js';
import { readElf } from '../../src/store/elf.js';

/** A minimal 64-bit little-endian ELF file: one PT_LOAD over the whole file, PT_INTERP, PT_DYNAMIC. */
function elf(o: { interp?: string; needed?: string[]; soname?: string; runpath?: string; rpath?: string }): Buffer {
  const strs: string[] = [];
  const strtab: Buffer[] = [Buffer.from([0])];
  let strSize = 1;
  const str = (s: string): number => {
    const at = strSize;
    strtab.push(Buffer.from(s + '\0'));
    strSize += Buffer.byteLength(s) + 1;
    strs.push(s);
    return at;
  };
  const dyn: Array<[number, number]> = [];
  for (const n of o.needed ?? []) dyn.push([1, str(n)]);
  if (o.soname) dyn.push([14, str(o.soname)]);
  if (o.rpath) dyn.push([15, str(o.rpath)]);
  if (o.runpath) dyn.push([29, str(o.runpath)]);
  const phnum = o.interp ? 3 : 2;
  const interpAt = 64 + 56 * phnum;
  const interp = o.interp ? Buffer.from(o.interp + '\0') : Buffer.alloc(0);
  const strtabAt = interpAt + interp.length;
  const dynAt = strtabAt + strSize;
  dyn.push([5, strtabAt], [10, strSize], [0, 0]);
  const size = dynAt + 16 * dyn.length;
  const b = Buffer.alloc(size);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // 64-bit
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(62, 18); // x86-64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(64n, 32); // e_phoff
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(phnum, 56);
  const ph = (i: number, type: number, offset: number, filesz: number): void => {
    const at = 64 + 56 * i;
    b.writeUInt32LE(type, at);
    b.writeBigUInt64LE(BigInt(offset), at + 8);
    b.writeBigUInt64LE(BigInt(offset), at + 16); // vaddr = offset
    b.writeBigUInt64LE(BigInt(filesz), at + 32);
    b.writeBigUInt64LE(BigInt(filesz), at + 40);
  };
  ph(0, 1, 0, size); // PT_LOAD
  ph(1, 2, dynAt, 16 * dyn.length); // PT_DYNAMIC
  if (o.interp) ph(2, 3, interpAt, interp.length); // PT_INTERP
  interp.copy(b, interpAt);
  Buffer.concat(strtab).copy(b, strtabAt);
  dyn.forEach(([tag, value], i) => {
    b.writeBigInt64LE(BigInt(tag), dynAt + 16 * i);
    b.writeBigUInt64LE(BigInt(value), dynAt + 16 * i + 8);
  });
  return b;
}

const STORE = '/tsdsl/store';
const work = mkdtempSync(join(tmpdir(), 'tsdsl-loadable-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const item = (name: string): string => `${STORE}/${'a'.repeat(32 - name.length)}${name}-1`;
const physical = (logical: string): string => join(work, logical.slice(STORE.length + 1));
function put(logical: string, content: Buffer | { link: string }): void {
  const p = physical(logical);
  mkdirSync(dirname(p), { recursive: true });
  if (Buffer.isBuffer(content)) writeFileSync(p, content, { mode: 0o755 });
  else symlinkSync(content.link, p);
}

const libc = item('libc');
const gfortran = item('gfortran');
const quadmath = item('quadmath');
const missing = item('missing');
const LD = `${libc}/lib/ld-linux-x86-64.so.2`;
put(LD, elf({ soname: 'ld-linux-x86-64.so.2' }));
put(`${libc}/lib/libc.so.6`, elf({ soname: 'libc.so.6', needed: ['ld-linux-x86-64.so.2'] }));
// Like Debian's: no RUNPATH, so its own NEEDED libquadmath is found only if something loaded it.
put(`${gfortran}/lib/libgfortran.so.5.0.0`, elf({ soname: 'libgfortran.so.5', needed: ['libquadmath.so.0', 'libc.so.6'] }));
put(`${gfortran}/lib/libgfortran.so.5`, { link: 'libgfortran.so.5.0.0' });
put(`${quadmath}/lib/libquadmath.so.0`, elf({ soname: 'libquadmath.so.0', needed: ['libc.so.6'] }));
put(`${missing}/lib/libmissing.so.1`, elf({ soname: 'libmissing.so.1' }));
const runpath = [`${libc}/lib`, `${gfortran}/lib`, `${quadmath}/lib`].join(':');

const app = item('app');
put(`${app}/bin/solver`, elf({ interp: LD, needed: ['libgfortran.so.5', 'libc.so.6'], runpath }));
// The same, but linking libquadmath itself (what MUMPS does): loaded before libgfortran asks.
put(`${app}/bin/fixed`, elf({ interp: LD, needed: ['libquadmath.so.0', 'libgfortran.so.5', 'libc.so.6'], runpath }));
// $ORIGIN and a library of its own item, through a profile-like symbolic link.
put(`${app}/lib/libown.so.1`, elf({ soname: 'libown.so.1', needed: ['libc.so.6'], runpath: `${libc}/lib` }));
put(`${app}/bin/origin`, elf({ interp: LD, needed: ['libown.so.1', 'libc.so.6'], runpath: `$ORIGIN/../lib:${libc}/lib` }));
const deb = item('deb');
put(`${deb}/bin/debian`, elf({ interp: '/lib64/ld-linux-x86-64.so.2', needed: ['libc.so.6'] }));
put(`${deb}/bin/debian2`, elf({ interp: '/lib64/ld-linux-x86-64.so.2', needed: ['libc.so.6'] }));
const lost = item('lost');
put(`${lost}/bin/lost`, elf({ interp: LD, needed: ['libmissing.so.1', 'libc.so.6'], runpath: `${libc}/lib:${missing}/lib` }));
put(`${app}/bin/script`, Buffer.from('#!/bin/sh\necho hi\n'));

const items = (paths: string[]) => paths.map((p) => ({ path: p, physical: physical(p) }));
const base = [libc, gfortran, quadmath];

describe('readElf', () => {
  it('reads the interpreter, NEEDED, SONAME, RUNPATH and RPATH', () => {
    expect(readElf(physical(`${app}/bin/origin`))).toEqual({
      type: 'dyn',
      interpreter: LD,
      needed: ['libown.so.1', 'libc.so.6'],
      soname: undefined,
      rpath: undefined,
      runpath: ['$ORIGIN/../lib', `${libc}/lib`],
    });
    expect(readElf(physical(`${gfortran}/lib/libgfortran.so.5.0.0`))).toMatchObject({ interpreter: undefined, soname: 'libgfortran.so.5', runpath: undefined });
    expect(readElf(physical(`${app}/bin/script`))).toBeUndefined();
    // A real program of this machine: node, as the dynamic linker sees it.
    const node = readElf(process.execPath)!;
    expect(node.interpreter).toMatch(/ld-linux/);
    expect(node.needed).toContain('libc.so.6');
  });
});

describe('checkLoadable', () => {
  it('follows the loader from each program: already-loaded sonames, RUNPATH, $ORIGIN, links', () => {
    const problems = checkLoadable({ storeDir: STORE, items: items([...base, app]), programDirs: [`${app}/bin`] });
    // `solver`: libgfortran (no RUNPATH) needs libquadmath, which nothing loaded before; and
    // `script` asks for /bin/sh, which no pack without a link holds.
    expect(problems).toEqual([
      { kind: 'needed', object: `${gfortran}/lib/libgfortran.so.5.0.0`, needed: 'libquadmath.so.0', programs: [`${app}/bin/solver`], outsideClosure: undefined },
      { kind: 'script', object: 'host', needed: '/bin/sh', programs: [`${app}/bin/script`], outsideClosure: undefined },
    ]);
    expect(describeLoadProblem(problems[1]!)).toMatch(/^the script script asks for \/bin\/sh \(its #! line\), which the pack does not hold: it runs only where the host's \/bin\/sh is seen .*not under `tsdsl run`.*-S \/bin=bin/);
    expect(describeLoadProblem(problems[0]!)).toMatch(/libgfortran\.so\.5\.0\.0 needs libquadmath\.so\.0, which none of its RUNPATH directories hold[\s\S]*-lquadmath/);
  });

  it('reports programs whose loader is outside the pack once per item, and dependencies left out of the closure', () => {
    const problems = checkLoadable({ storeDir: STORE, items: items([...base, deb, lost]), programDirs: [`${deb}/bin`, `${lost}/bin`] });
    expect(problems.map((p) => [p.kind, p.object, p.needed, p.programs.length, p.outsideClosure])).toEqual([
      ['interpreter', deb, '/lib64/ld-linux-x86-64.so.2', 2, undefined],
      ['needed', `${lost}/bin/lost`, 'libmissing.so.1', 1, missing],
    ]);
    expect(describeLoadProblem(problems[0]!)).toMatch(/^2 programs of .*deb-1 \(bin\/debian, bin\/debian2\) ask for the loader \/lib64\/ld-linux-x86-64\.so\.2/);
    expect(describeLoadProblem(problems[1]!)).toMatch(/needs libmissing\.so\.1 from .*missing-1, which the pack does not hold/);
    // With the item in the closure, nothing is reported for `lost`.
    expect(checkLoadable({ storeDir: STORE, items: items([...base, lost, missing]), programDirs: [`${lost}/bin`] })).toEqual([]);
  });

  it('finds programs through a profile of links, and ignores directories that do not exist', () => {
    const profile = item('profile');
    put(`${profile}/bin/fixed`, { link: `${app}/bin/fixed` });
    put(`${profile}/bin/script`, { link: `${app}/bin/script` });
    put(`${profile}/bin/sh`, { link: `${app}/bin/fixed` });
    const dirs = [`${profile}/bin`, `${profile}/sbin`];
    // The script's /bin/sh: held by the pack once -S /bin=bin puts the profile's bin there.
    expect(checkLoadable({ storeDir: STORE, items: items([...base, app, profile]), programDirs: dirs }).map((p) => p.kind)).toEqual(['script']);
    expect(checkLoadable({ storeDir: STORE, items: items([...base, app, profile]), programDirs: dirs, links: [{ link: '/bin', target: 'bin' }], profile })).toEqual([]);
    // A #! line naming a store item the closure lacks.
    put(`${app}/bin/stored`, Buffer.from(`#!${missing}/bin/sh\n`));
    const stored = checkLoadable({ storeDir: STORE, items: items([...base, app, profile]), programDirs: [`${app}/bin`], links: [{ link: '/bin', target: 'bin' }], profile }).find((p) => p.kind === 'script')!;
    expect(stored).toMatchObject({ object: 'store', needed: `${missing}/bin/sh`, outsideClosure: missing });
    expect(describeLoadProblem(stored)).toMatch(/asks for .*missing-1\/bin\/sh \(its #! line\), which is not in the pack \(.*missing-1 is not in the closure\)/);
  });
});
