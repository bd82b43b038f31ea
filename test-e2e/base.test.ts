/**
 * The base tools of issue 5 built for real with their own test suites in the sandbox, twice
 * (`--rounds=2` compares the two builds bit for bit), and their programs running from a chroot
 * that holds nothing but their closure.
 */
import { describe, expect, it } from 'vitest';
import { build, runInClosure } from './helpers.js';

describe('base tools', () => {
  it('bzip2, xz, flex, bison and pkgconf build reproducibly and run from their closure alone', () => {
    const outs = build(['bzip2', 'xz', 'flex', 'bison', 'pkgconf'], ['--rounds=2']);
    expect(outs.map((o) => o.replace(/^.*?-/, ''))).toEqual(['bzip2-1.0.8', 'xz-5.4.1', 'flex-2.6.4', 'bison-3.8.2', 'pkgconf-1.8.1']);
    const [bzip2, xz, flex, bison, pkgconf] = outs as [string, string, string, string, string];
    const text = 'tsdsl '.repeat(1000);
    const bz = runInClosure([bzip2], [`${bzip2}/bin/bzip2`, '-c'], { input: text });
    expect(bz.code).toBe(0);
    expect(bz.stdout.startsWith('BZh')).toBe(true);
    expect(runInClosure([xz], [`${xz}/bin/xz`, '--version']).stdout).toMatch(/^xz \(XZ Utils\) 5\.4\.1/);
    expect(runInClosure([flex], [`${flex}/bin/flex`, '--version']).stdout).toMatch(/flex 2\.6\.4/);
    expect(runInClosure([bison], [`${bison}/bin/bison`, '--version']).stdout).toMatch(/bison \(GNU Bison\) 3\.8\.2/);
    expect(runInClosure([pkgconf], [`${pkgconf}/bin/pkg-config`, '--version']).stdout.trim()).toBe('1.8.1');
  });
});
