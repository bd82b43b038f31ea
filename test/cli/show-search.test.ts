import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tsdsl } from './helpers.js';

describe('tsdsl show', () => {
  it('shows name, version, synopsis, inputs, home page, license and location file:line', () => {
    const r = tsdsl(['show', 'hwloc']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^name: hwloc$/m);
    expect(r.stdout).toMatch(/^version: 2\.9\.0$/m);
    expect(r.stdout).toMatch(/^location: packages\/mpi\.ts:\d+$/m);
    expect(r.stdout).toMatch(/^homepage: https:\/\//m);
    expect(r.stdout).toMatch(/^license: Modified BSD \(3 clauses\)$/m);
    expect(r.stdout).toMatch(/^synopsis: /m);
    expect(r.stdout).toMatch(/^dependencies:/m);
    expect(r.stdout).toMatch(/^other-versions: 1\.11\.13$/m);
  });

  it('other-versions goes on over lines of at most 78 columns, as dependencies do', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-versions-'));
    const defs = Array.from({ length: 60 }, (_, i) => `export const v${i} = definePackage({ name: 'multi', version: '1.${i}.0', buildSystem: trivial, synopsis: 'Kept at many versions', description: 'A package kept at many versions.', homePage: 'https://example.org/', license: licenses.expat });`);
    writeFileSync(join(dir, 'multi.ts'), `import { definePackage, licenses, trivial } from 'tsdsl';\n${defs.join('\n')}\n`);
    const r = tsdsl(['show', '-L', dir, 'multi']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^other-versions: 1\.58\.0 1\.57\.0 /m);
    expect(Math.max(...r.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(78);
    const listed = r.stdout.slice(r.stdout.indexOf('other-versions:')).replace(/^other-versions: /, '').replace(/\n\+ /g, ' ').trim().split(' ');
    expect(listed).toHaveLength(59);
  });

  it('--json of properties holding a BigInt or a package: digits and name@version, not an internal error or a whole record', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-props-'));
    writeFileSync(
      join(dir, 'p.ts'),
      "import { definePackage, licenses, trivial } from 'tsdsl';\nimport { hwloc } from 'tsdsl/packages';\nexport const p = definePackage({ name: 'propy', version: '1.0', buildSystem: trivial, synopsis: 'Odd properties', description: 'Odd properties.', homePage: 'https://example.org/', license: licenses.expat, properties: { related: hwloc, serial: 10n } as never });\n",
    );
    for (const args of [['show', 'propy', '--json'], ['search', '^propy$', '--json']]) {
      const r = tsdsl([...args, '-L', dir]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect((JSON.parse(r.stdout) as Array<{ properties: unknown }>)[0]!.properties).toEqual({ related: 'hwloc@2.9.0', serial: '10' });
    }
  });

  it('hwloc@1 is another version of the same package', () => {
    const r = tsdsl(['show', 'hwloc@1']);
    expect(r.stdout).toMatch(/^version: 1\.11\.13$/m);
    expect(tsdsl(['show', 'hwloc@^2']).stdout).toMatch(/^version: 2\.9\.0$/m);
  });

  it('--json gives the same facts as JSON', () => {
    const [j, ...rest] = JSON.parse(tsdsl(['show', 'mumps', '--json']).stdout) as Array<Record<string, unknown>>;
    expect(rest).toEqual([]);
    expect((JSON.parse(tsdsl(['show', 'mumps', 'hwloc', '--json']).stdout) as Array<{ name: string }>).map((x) => x.name)).toEqual(['mumps', 'hwloc']);
    expect(j!['name']).toBe('mumps');
    expect(j!['transformations']).toEqual([]);
    const [t] = JSON.parse(tsdsl(['show', 'mumps', '--json', '--with-input=scotch=pt-scotch']).stdout) as Array<Record<string, unknown>>;
    expect(t!['transformations']).toEqual([expect.objectContaining({ option: 'with-input', spec: 'scotch=pt-scotch' })]);
    expect(j!['inputs']).toEqual(expect.arrayContaining([expect.stringMatching(/^scotch@/), expect.stringMatching(/^metis@/)]));
    expect((j!['location'] as { file: string }).file).toMatch(/packages\/maths\.ts$/);
    expect((j!['source'] as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a misspelt global option or subcommand gets the closest name; --debug may come before the command', () => {
    expect(tsdsl(['--hlep']).stderr).toBe('tsdsl: error: unknown option `--hlep` before the command; did you mean `--help`? (usage: tsdsl COMMAND [OPTION]...; see tsdsl --help)\n');
    expect(tsdsl(['derivation', 'shwo', 'hwloc']).stderr).toBe('tsdsl: error: tsdsl derivation: unknown subcommand `shwo`; did you mean `show`? (use `tsdsl derivation show PACKAGE`)\n');
    expect(tsdsl(['derivation']).stderr).toMatch(/no subcommand given/);
    // A command (or its option) where packages or tsdsl's options go: the error says to use `--`.
    expect(tsdsl(['shell', 'hwloc', 'lstopo-no-graphics']).stderr).toMatch(/unknown package `lstopo-no-graphics`.*; if `lstopo-no-graphics` is the command to run, put it after `--` \(`tsdsl shell hwloc -- lstopo-no-graphics`\)/);
    expect(tsdsl(['run', 'p.tar.gz', 'prog', '--version']).stderr).toMatch(/unknown option `--version`; if it is an option of the command to run, put the command after `--`/);
    expect(tsdsl(['run', 'p.tar.gz', '--engin=userns']).stderr).toMatch(/unknown option `--engin`; did you mean `--engine`\? \(see/);
    // No command at all: a usage error, the help on stderr and nothing on stdout.
    const none = tsdsl([]);
    expect([none.code, none.stdout]).toEqual([2, '']);
    expect(none.stderr).toMatch(/^Usage: tsdsl COMMAND/);
    const debug = tsdsl(['--debug', 'show', 'nosuchpkg']);
    expect(debug.stderr).toMatch(/^tsdsl: error: unknown package `nosuchpkg`/);
    expect(debug.stderr).toMatch(/\n\s+at /);
    // The message once, then the frames (the stack's own first line repeated it).
    expect(debug.stderr.match(/unknown package `nosuchpkg`/g)).toHaveLength(1);
  });

  it('words after -- are an error for a command that runs none (they were dropped)', () => {
    const r = tsdsl(['show', 'hwloc', '--', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tsdsl: error: tsdsl show runs no command, so `-- --json` means nothing to it; give that word without `--` (`tsdsl show hwloc --json`)\n');
    // --debug before the command stays tsdsl's, even with words after --.
    expect(tsdsl(['--debug', 'build', '-n', 'hwloc', '--', 'x']).stderr).toMatch(/^tsdsl: error: tsdsl build runs no command, so `-- x` means/);
    // Numbers are counts, sizes or durations: a negative one is refused (--timeout=-1 failed every build at once).
    expect(tsdsl(['build', '--timeout=-1', 'zlib']).stderr).toBe('tsdsl: error: tsdsl build: --timeout takes a whole number (digits only), not `-1`\n');
  });

  it('shows a source\'s patches, whatever its kind, in the record and in JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-show-patch-'));
    writeFileSync(join(dir, 'hwloc-fix.patch'), '');
    mkdirSync(join(dir, 'src'));
    const args = ['hwloc', `--with-source=hwloc=${dir}/src`, `--with-patch=hwloc=${dir}/hwloc-fix.patch`];
    expect(tsdsl(['show', ...args]).stdout).toMatch(new RegExp(`^patches: ${dir}/hwloc-fix\\.patch$`, 'm'));
    const [j] = JSON.parse(tsdsl(['show', '--json', ...args]).stdout) as Array<{ source: Record<string, unknown> }>;
    expect(j!.source).toEqual({ kind: 'local', path: `${dir}/src`, patches: [`${dir}/hwloc-fix.patch`], patchFlags: ['-p1'], snippet: null });
  });
});

describe('options whose value is PACKAGE=…', () => {
  it('given without `=`, they do not take the package meant for the command silently', () => {
    const r = tsdsl(['build', '-d', '--with-input', 'hwloc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tsdsl: error: tsdsl build: --with-input takes PACKAGE=REPLACEMENT, and `hwloc` has no `=`; write --with-input=PACKAGE=REPLACEMENT\n');
  });

  it('an empty value is not the default value, and suggestions come from the names listed', () => {
    expect(tsdsl(['build', '-d', '--tune=', 'hwloc']).stderr).toBe('tsdsl: error: tsdsl build: --tune= has an empty value; give one (--tune=CPU), or write --tune alone for native\n');
    expect(tsdsl(['hash', '--format=nix3', 'README.md']).stderr).toBe('tsdsl: error: tsdsl hash: --format=nix3 is not a format; did you mean `nix32`? (hex, nix32, base64 or sri)\n');
  });
});

describe('package files that never load', () => {
  it('a top-level await that never settles is an error naming the file, not a silent exit 0; an empty -L is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-tla-'));
    writeFileSync(join(dir, 't.ts'), "import { definePackage } from 'tsdsl';\nawait new Promise(() => {});\n");
    const r = tsdsl(['show', '-L', dir, 'hwloc']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`tsdsl: error: loading package file ${join(dir, 't.ts')} never finished: its top-level \`await\` waits for something that will never happen (a promise nobody resolves); fix or remove that await\n`);
    const e = tsdsl(['show', '--load-path=', 'hwloc']);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/-L\/--load-path is empty; give the directory/);
  });
});

describe('tsdsl search', () => {
  it('ranks by name, then synopsis, then description', () => {
    const r = tsdsl(['search', 'sparse.*solver']);
    expect(r.code).toBe(0);
    const names = [...r.stdout.matchAll(/^name: (.*)$/gm)].map((m) => m[1]);
    expect(names[0]).toMatch(/^mumps/);
    // Every version is listed, newest first.
    const versions = [...tsdsl(['search', '^hwloc$']).stdout.matchAll(/^version: (.*)$/gm)].map((m) => m[1]);
    expect(versions).toEqual(['2.9.0', '1.11.13']);
    const j = JSON.parse(tsdsl(['search', 'scotch', '--json']).stdout) as Array<{ name: string; relevance: number }>;
    expect(j[0]!.name).toBe('scotch');
    expect(j.map((x) => x.relevance)).toEqual([...j.map((x) => x.relevance)].sort((a, b) => b - a));
  });

  it('Unicode property escapes are what they mean (`\\p{L}` a letter), and the older syntax still works', () => {
    const names = [...tsdsl(['search', '^h\\p{L}+c$']).stdout.matchAll(/^name: (.*)$/gm)].map((m) => m[1]);
    expect(names).toContain('hwloc');
    expect(tsdsl(['search', 'pt\\-scotch']).stdout).toMatch(/^name: pt-scotch$/m);
  });

  it('no match exits 1; a bad regexp is a clear error', () => {
    expect(tsdsl(['search', 'zzzzqqq']).code).toBe(1);
    // No match is a result (1, as grep's); a mistake is an error (2).
    expect(tsdsl(['search', '(']).code).toBe(2);
    expect(tsdsl(['search', 'zzzzqqq']).stderr).toMatch(/^tsdsl: no package matches `zzzzqqq`/);
    const none = tsdsl(['search', 'zzzzqqq', '--json']);
    expect([none.code, none.stdout]).toEqual([1, '[]\n']);
    expect(tsdsl(['search', '(']).stderr).toMatch(/`\(` is not a valid regular expression/);
  });
});

describe('tsdsl --help and --version', () => {
  it('every command has --help with examples', () => {
    for (const c of ['graph', 'show', 'search']) {
      const r = tsdsl([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: tsdsl ${c}`));
      expect(r.stdout).toContain('Examples:');
    }
    expect(tsdsl(['--help']).stdout).toContain('Commands:');
    // `tsdsl help graph` and `tsdsl --help graph` are graph's help.
    for (const h of ['help', '--help']) expect(tsdsl([h, 'graph']).stdout).toMatch(/^Usage: tsdsl graph/);
    expect(tsdsl(['--version']).stdout).toMatch(/^tsdsl \d+\.\d+\.\d+/);
    expect(tsdsl(['--help-transform']).stdout).toContain('--with-input=PACKAGE=REPLACEMENT');
  });
});
