import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..', '..');
const dist = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, 'dist', p)).href);

/**
 * `Lowerer.prepare` walks the graph only once some package has a source it must hash or fetch.
 * The count of such packages is per process (and grows as the tests of a file define them), so
 * each case runs in a Node of its own, with the built modules.
 */
function run(body: string): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-prepare-'));
  try {
    const file = join(dir, 'case.mjs');
    writeFileSync(
      file,
      `import { definePackage, defineBuildSystem, licenses, local, url, trivial } from ${dist('src/index.js')};\n` +
        `import { Lowerer } from ${dist('src/derivation/lower.js')};\n` +
        `const spec = { version: '1', synopsis: 's', description: 'd', homePage: 'https://example.org/', license: licenses.expat };\n` +
        // A build system that counts how often its toolchain is looked at (once, then cached).
        `let walked = 0;\n` +
        `const counting = defineBuildSystem({ name: 'trivial', description: 'x', phases: ['build'], toolchain: () => { walked++; return []; } });\n` +
        `const dir = ${JSON.stringify(dir)};\n` +
        body,
    );
    return JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8' })) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Lowerer.prepare', () => {
  it('does not walk the graph while no package has a local file or an unpinned origin, and lowers the same', () => {
    const got = run(`
      const leaf = definePackage({ name: 'leaf', buildSystem: counting, source: url({ urls: 'https://example.org/leaf-1.tar.gz', sha256: '${'0'.repeat(64)}' }), ...spec });
      const top = definePackage({ name: 'top', buildSystem: trivial, inputs: [leaf], ...spec });
      const l = new Lowerer('/tsdsl/store');
      await l.prepare([top]);
      const afterPrepare = walked;
      const drv = l.lower(top).drvPath;
      console.log(JSON.stringify({ afterPrepare, afterLower: walked, drv }));
    `);
    expect(got['afterPrepare']).toBe(0);
    expect(got['afterLower']).toBe(1);
    expect(got['drv']).toMatch(/^\/tsdsl\/store\/[0-9a-z]{32}-top-1\.drv$/);
  });

  it('walks it once any package has one (in the graph or not), and still says which file is missing', () => {
    const got = run(`
      writeFileSync(dir + '/src.tar.gz', 'x');
      definePackage({ name: 'elsewhere', buildSystem: trivial, source: local(dir + '/src.tar.gz'), ...spec });
      const leaf = definePackage({ name: 'leaf', buildSystem: counting, ...spec });
      const l = new Lowerer('/tsdsl/store');
      await l.prepare([leaf]);
      const afterPrepare = walked;
      const missing = definePackage({ name: 'missing', buildSystem: trivial, source: local(dir + '/gone.tar.gz'), ...spec });
      let error = '';
      try { await new Lowerer('/tsdsl/store').prepare([missing]); } catch (e) { error = e.message; }
      console.log(JSON.stringify({ afterPrepare, error }));
    `.replace('writeFileSync', `(await import('node:fs')).writeFileSync`));
    expect(got['afterPrepare']).toBe(1);
    expect(got['error']).toMatch(/missing file: `missing@1` \(.*case\.mjs:\d+\), source: `.*gone\.tar\.gz` does not exist/);
  });

  it('walks it for a package derived with a local source (as --with-source does)', () => {
    const got = run(`
      writeFileSync(dir + '/new.tar.gz', 'x');
      const leaf = definePackage({ name: 'leaf', buildSystem: counting, source: url({ urls: 'https://example.org/leaf-1.tar.gz', sha256: '${'0'.repeat(64)}' }), ...spec });
      const { derive } = await import(${dist('src/dsl/package.js')});
      const changed = derive(leaf, { source: local(dir + '/new.tar.gz') });
      const l = new Lowerer('/tsdsl/store');
      await l.prepare([changed]);
      console.log(JSON.stringify({ afterPrepare: walked, drv: l.lower(changed).drvPath }));
    `.replace('writeFileSync', `(await import('node:fs')).writeFileSync`));
    expect(got['afterPrepare']).toBe(1);
    expect(got['drv']).toMatch(/-leaf-1\.drv$/);
  });
});
