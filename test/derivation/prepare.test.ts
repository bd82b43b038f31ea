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
      const made = definePackage({ name: 'leaf', buildSystem: counting, source: url({ urls: 'https://example.org/leaf-1.tar.gz', sha256: '${'0'.repeat(64)}' }), ...spec });
      // The walk reads each package's source: a proxy of the leaf counts the reads.
      let reads = 0;
      const leaf = new Proxy(made, { get: (t, k) => (k === 'source' && reads++, t[k]) });
      const top = definePackage({ name: 'top', buildSystem: trivial, inputs: [leaf], ...spec });
      const l = new Lowerer('/tsdsl/store');
      await l.prepare([top]);
      const afterPrepare = reads;
      const drv = l.lower(top).drvPath;
      // A root that is not this copy's own record (another copy of tsdsl may not count what it
      // makes) is walked all the same.
      reads = 0;
      await new Lowerer('/tsdsl/store').prepare([leaf]);
      console.log(JSON.stringify({ afterPrepare, thunks: walked, drv, foreignRoot: reads }));
    `);
    expect(got['afterPrepare']).toBe(0);
    expect(got['thunks']).toBe(1);
    expect(got['drv']).toMatch(/^\/tsdsl\/store\/[0-9a-z]{32}-top-1\.drv$/);
    expect(got['foreignRoot']).toBeGreaterThan(0);
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

  it("hashes what a build system's thunk defines on first use (it runs before the count is read)", () => {
    const got = run(`
      (await import('node:fs')).writeFileSync(dir + '/tool.tar.gz', 'x');
      const lazy = defineBuildSystem({ name: 'lazy', description: 'x', phases: ['build'],
        tools: () => [definePackage({ name: 'tool', buildSystem: trivial, source: local(dir + '/tool.tar.gz'), ...spec })] });
      const top = definePackage({ name: 'top', buildSystem: lazy, ...spec });
      const l = new Lowerer('/tsdsl/store');
      await l.prepare([top]);
      console.log(JSON.stringify({ drv: l.lower(top).drvPath }));
    `);
    expect(got['drv']).toMatch(/-top-1\.drv$/);
  });

  it('says why a file was not hashed when prepare() had nothing to look for and a package made later has one', () => {
    const got = run(`
      const top = definePackage({ name: 'top', buildSystem: trivial, ...spec });
      const l = new Lowerer('/tsdsl/store');
      await l.prepare([top]);
      const late = definePackage({ name: 'late', buildSystem: trivial, source: local(dir + '/late.tar.gz'), ...spec });
      let error = '';
      try { l.lower(late); } catch (e) { error = e.message; }
      console.log(JSON.stringify({ error }));
    `);
    expect(got['error']).toMatch(/late\.tar\.gz` was not hashed; call prepare\(\) before lower\(\) .*\(prepare\(\) did not look: no package made by this copy of tsdsl had a local or unpinned source when it ran; was this one made after it/);
  });
});
