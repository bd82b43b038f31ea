/**
 * What the dynamic loader reads from an ELF file: its type, its interpreter (PT_INTERP) and its
 * dynamic section's NEEDED, SONAME, RPATH and RUNPATH. Reads only the headers and the two small
 * tables, so checking a closure of hundreds of libraries reads kilobytes, not the whole files.
 * 32- and 64-bit, either byte order.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface ElfInfo {
  /** `exec` (fixed address), `dyn` (shared library or position-independent program), or `other` (object files, cores). */
  type: 'exec' | 'dyn' | 'other';
  /** PT_INTERP, or undefined for a static file. */
  interpreter: string | undefined;
  needed: string[];
  soname: string | undefined;
  /** DT_RPATH and DT_RUNPATH, split at `:`; undefined when absent. */
  rpath: string[] | undefined;
  runpath: string[] | undefined;
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

/** The ELF file's loader information; undefined when PATH is not an ELF file (a script, data). Throws when it cannot be read. */
export function readElf(path: string): ElfInfo | undefined {
  const fd = openSync(path, 'r');
  try {
    const read = (length: number, position: number): Buffer => {
      const b = Buffer.alloc(length);
      const n = readSync(fd, b, 0, length, position);
      return n === length ? b : b.subarray(0, n);
    };
    const head = read(64, 0);
    if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    if (is64 && head.length < 64) return undefined;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number): number => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const sword = (b: Buffer, o: number): number => (is64 ? Number(le ? b.readBigInt64LE(o) : b.readBigInt64BE(o)) : le ? b.readInt32LE(o) : b.readInt32BE(o));
    const eType = u16(head, 16);
    const info: ElfInfo = { type: eType === 2 ? 'exec' : eType === 3 ? 'dyn' : 'other', interpreter: undefined, needed: [], soname: undefined, rpath: undefined, runpath: undefined };
    const phoff = word(head, is64 ? 0x20 : 0x1c);
    const phentsize = u16(head, is64 ? 0x36 : 0x2a);
    const phnum = u16(head, is64 ? 0x38 : 0x2c);
    const table = read(phentsize * phnum, phoff);
    const loads: Array<{ vaddr: number; offset: number; filesz: number }> = [];
    let dynamic: { offset: number; size: number } | undefined;
    for (let i = 0; i + 1 <= table.length / phentsize; i++) {
      const ph = table.subarray(i * phentsize, (i + 1) * phentsize);
      const type = u32(ph, 0);
      const offset = word(ph, is64 ? 8 : 4);
      const vaddr = word(ph, is64 ? 16 : 8);
      const filesz = word(ph, is64 ? 32 : 16);
      if (type === PT_INTERP) info.interpreter = read(filesz, offset).toString('utf8').replace(/\0.*$/s, '');
      else if (type === PT_DYNAMIC) dynamic = { offset, size: filesz };
      else if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    }
    if (!dynamic) return info;
    const entrySize = is64 ? 16 : 8;
    const dyn = read(dynamic.size, dynamic.offset);
    const strings: Array<[number, number]> = [];
    let strtab: number | undefined;
    let strsz = 0;
    for (let o = 0; o + entrySize <= dyn.length; o += entrySize) {
      const tag = sword(dyn, o);
      const value = word(dyn, o + entrySize / 2);
      if (tag === 0) break;
      if (tag === DT_STRTAB) strtab = value;
      else if (tag === DT_STRSZ) strsz = value;
      else if (tag === DT_NEEDED || tag === DT_SONAME || tag === DT_RPATH || tag === DT_RUNPATH) strings.push([tag, value]);
    }
    if (strtab === undefined || strings.length === 0) return info;
    // DT_STRTAB is an address: the file offset is found through the PT_LOAD segment holding it.
    const seg = loads.find((l) => strtab! >= l.vaddr && strtab! < l.vaddr + l.filesz);
    if (!seg) return info;
    const text = read(strsz, strtab - seg.vaddr + seg.offset);
    const str = (at: number): string => {
      const end = text.indexOf(0, at);
      return text.toString('utf8', at, end < 0 ? text.length : end);
    };
    for (const [tag, at] of strings) {
      const s = str(at);
      if (tag === DT_NEEDED) info.needed.push(s);
      else if (tag === DT_SONAME) info.soname = s;
      else if (tag === DT_RPATH) info.rpath = s.split(':').filter(Boolean);
      else info.runpath = s.split(':').filter(Boolean);
    }
    return info;
  } finally {
    closeSync(fd);
  }
}
