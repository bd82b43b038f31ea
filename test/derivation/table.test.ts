import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { FinalizedDerivation } from '../../src/derivation/aterm.js';
import { compressHash, makeStorePath, makeTextPathFromHex, nix32Encode, storePathOfChecked, storePathOfCheckedName, validateDrvName, validateStoreName } from '../../src/derivation/hash.js';
import { DerivationTable } from '../../src/derivation/table.js';

const drv = (drvPath: string, tag = ''): FinalizedDerivation => ({ drvPath, name: tag }) as unknown as FinalizedDerivation;
const pathOf = (i: number, dir = '/nix/store') => `${dir}/${nix32Encode(compressHash(createHash('sha256').update(String(i)).digest(), 20))}-p${i}-1.0.drv`;

describe('DerivationTable', () => {
  it('finds each of many derivations by path, keeps the order made, and replaces one made again in its place', () => {
    const t = new DerivationTable('/nix/store');
    const paths = Array.from({ length: 5000 }, (_, i) => pathOf(i));
    for (const p of paths) t.add(drv(p));
    expect(t.size).toBe(5000);
    for (const p of paths) expect(t.get(p)?.drvPath).toBe(p);
    expect([...t.keys()]).toEqual(paths);
    t.add(drv(paths[17]!, 'again'));
    expect(t.size).toBe(5000);
    expect(t.get(paths[17]!)?.name).toBe('again');
    expect([...t.values()][17]!.name).toBe('again');
    expect([...t].map(([k]) => k)).toEqual(paths);
    // Paths that differ only after the characters the slot is computed from, other store dirs, and other strings.
    const near = paths[3]!.replace(/-p3-/, '-q3-');
    expect(t.get(near)).toBeUndefined();
    expect(t.has(pathOf(6000))).toBe(false);
    expect(t.get('')).toBeUndefined();
    t.add(drv(near));
    t.add(drv('not a path'));
    t.add(drv(pathOf(1, '/other/store')));
    expect(t.get(near)?.drvPath).toBe(near);
    expect(t.get(paths[3]!)?.drvPath).toBe(paths[3]);
    expect(t.get('not a path')?.drvPath).toBe('not a path');
    expect(t.get(pathOf(1, '/other/store'))?.drvPath).toBe(pathOf(1, '/other/store'));
    const seen: string[] = [];
    t.forEach((d, k) => seen.push(k) && expect(d.drvPath).toBe(k));
    expect(seen.length).toBe(5003);
  });
});

describe('store paths and names made on the fast paths', () => {
  it('gives the same path for a store dir of any characters (assembled as bytes for ASCII ones)', () => {
    const inner = createHash('sha256').update('x').digest();
    for (const dir of ['/nix/store', '/tmp/störe', '/a', `/${'d'.repeat(900)}`]) {
      const fingerprint = `output:out:sha256:${inner.toString('hex')}:${dir}:hello-1.0`;
      const want = `${dir}/${nix32Encode(compressHash(createHash('sha256').update(fingerprint).digest(), 20))}-hello-1.0`;
      expect(makeStorePath('output:out', inner, 'hello-1.0', dir)).toBe(want);
      // Once more after another dir: the reused prefix is written again.
      expect(makeStorePath('output:out', inner, 'hello-1.0', '/nix/store')).toBe(makeStorePath('output:out', inner, 'hello-1.0', '/nix/store'));
      expect(makeStorePath('output:out', inner, 'hello-1.0', dir)).toBe(want);
    }
  });

  it('joins a name that is not ASCII as a string (a byte would mangle it), though lowering checks every name first', () => {
    const hex = 'a'.repeat(64);
    const path = storePathOfCheckedName('output:out', hex, 'caf\u00e9-\u20ac', '/nix/store');
    expect(path).toMatch(/^\/nix\/store\/[0-9a-z]{32}-caf\u00e9-\u20ac$/);
    const fingerprint = `output:out:sha256:${hex}:/nix/store:caf\u00e9-\u20ac`;
    expect(path.slice(11, 43)).toBe(nix32Encode(compressHash(createHash('sha256').update(fingerprint).digest(), 20)));
  });

  it('writes a path\'s fingerprint with two lists of references merged, as the joined string gives it', () => {
    const hex = createHash('sha256').update('text').digest('hex');
    const ref = (i: number, name = `p${i}-1.0.drv`, dir = '/nix/store') => `${dir}/${nix32Encode(compressHash(createHash('sha256').update(String(i)).digest(), 20))}-${name}`;
    const sorted = (xs: string[]) => [...new Set(xs)].sort();
    const drvs = sorted([1, 2, 3, 5, 8].map((i) => ref(i)));
    const srcs = sorted([ref(4, 'builder.sh'), ref(9, 'patch'), drvs[2]!]);
    for (const [a, b] of [[[], []], [drvs, []], [[], srcs], [drvs, srcs], [srcs, drvs], [drvs.slice(0, 1), srcs.slice(2)]] as Array<[string[], string[]]>) {
      const want = makeTextPathFromHex('hello-1.0.drv', hex, sorted([...a, ...b]), '/nix/store');
      expect(storePathOfChecked('text', a, b, hex, 'hello-1.0', '.drv', '/nix/store')).toBe(want);
    }
    // Another store dir between two uses, a long one, and the output path type without references.
    expect(storePathOfChecked('text', drvs, [], hex, 'x', '.drv', '/other')).toBe(makeTextPathFromHex('x.drv', hex, drvs, '/other'));
    expect(storePathOfChecked('text', drvs, srcs, hex, 'hello-1.0', '.drv', '/nix/store')).toBe(makeTextPathFromHex('hello-1.0.drv', hex, sorted([...drvs, ...srcs]), '/nix/store'));
    expect(storePathOfChecked('output:out', [], [], hex, 'hello-1.0', '', `/${'d'.repeat(500)}`)).toBe(makeStorePath('output:out', Buffer.from(hex, 'hex'), 'hello-1.0', `/${'d'.repeat(500)}`));
    // Long enough to grow the fingerprint buffer, then a short one again.
    const many = sorted(Array.from({ length: 300 }, (_, i) => ref(i)));
    expect(storePathOfChecked('text', many, [], hex, 'big-1.0', '.drv', '/nix/store')).toBe(makeTextPathFromHex('big-1.0.drv', hex, many, '/nix/store'));
    expect(storePathOfChecked('text', [], [], hex, 'a', '.drv', '/nix/store')).toBe(makeTextPathFromHex('a.drv', hex, [], '/nix/store'));
    // Anything not ASCII, or a path too long for the reused bytes: undefined, and the caller joins strings.
    expect(storePathOfChecked('text', [ref(1, 'caf\u00e9')], [], hex, 'a', '.drv', '/nix/store')).toBeUndefined();
    expect(storePathOfChecked('text', [], [], hex, 'caf\u00e9', '.drv', '/nix/store')).toBeUndefined();
    expect(storePathOfChecked('text', [], [], hex, 'a', '.drv', '/tmp/st\u00f6re')).toBeUndefined();
    expect(storePathOfChecked('text', [], [], hex, 'a', '.drv', `/${'d'.repeat(1100)}`)).toBeUndefined();
    expect(storePathOfChecked('text', [], [], hex, 'a', '.drv', '/nix/store')).toBe(makeTextPathFromHex('a.drv', hex, [], '/nix/store'));
  });

  it('validates names as the regex does', () => {
    for (const ok of ['a', 'hello-1.0', '.x', '..x', 'A+-._?=9', 'x'.repeat(211)]) expect(validateStoreName(ok)).toBeUndefined();
    for (const bad of ['', '.', '..', '.-x', '..-x', 'a b', 'é', 'a/b', 'x'.repeat(212), 'a\u0000']) expect(validateStoreName(bad)).toMatch(/store path name/);
  });

  it('checks a derivation name as its .drv name would be checked', () => {
    const names = ['', '.', '..', '.-', '..-', '.x', '-x', 'a', 'a b', 'é', 'hello-1.0', 'x'.repeat(207), 'x'.repeat(208), '.'.repeat(3)];
    for (const a of ['', '.', '-', 'a', ' ']) for (const b of ['', '.', '-', 'b', '..']) names.push(a + b, `${a}x${b}`);
    for (const n of names) if (n !== 'x'.repeat(208)) expect(validateDrvName(n), JSON.stringify(n)).toBe(validateStoreName(n + '.drv'));
    // Too long only once `.drv` is added: said so, with the lengths of both.
    expect(validateDrvName('x'.repeat(208))).toMatch(/is 208 characters long: with `\.drv` after it, the derivation's file name would be 212, and the limit is 211; shorten it to 207 or fewer$/);
    expect(validateDrvName(`é${'x'.repeat(220)}`)).toBe(validateStoreName(`é${'x'.repeat(220)}.drv`));
  });
});
