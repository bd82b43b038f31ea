/** Transformation options through the real CLI, and the same graph from the code API. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../src/graph/build.js';
import { packageType } from '../../src/graph/node-types.js';
import { findBackend } from '../../src/graph/backends/index.js';
import { getDefaultCollection, transform } from '../../src/transform/api.js';
import { tsdsl } from './helpers.js';

describe('transformations on the command line', () => {
  it('--with-input gives the same graph as transform() in code', async () => {
    const cli = tsdsl(['graph', 'mumps', '--with-input=scotch=pt-scotch', '--backend=json']);
    expect(cli.code, cli.stderr).toBe(0);
    const c = getDefaultCollection();
    const t = transform(c.resolve('mumps'), ['--with-input=scotch=pt-scotch'], { collection: c });
    const { graph } = await buildGraph(packageType, [t], { ctx: { collection: c } });
    expect(JSON.parse(cli.stdout)).toEqual(JSON.parse(findBackend('json').render(graph, { typeName: 'package' })));
    expect(cli.stdout).toContain('pt-scotch@7.0.3');
    expect(cli.stdout).not.toMatch(/"scotch@/);
  });

  it('a package given that another one given depends on is one node after a transformation', () => {
    for (const option of ['--without-tests=scotch', '--with-configure-flag=zlib=--static']) {
      const r = tsdsl(['graph', 'mumps', 'scotch', option, '--backend=json']);
      expect(r.code, r.stderr).toBe(0);
      const ids = (JSON.parse(r.stdout) as { nodes: Array<{ id: string }> }).nodes.map((n) => n.id);
      expect(ids.filter((k) => k.startsWith('scotch@'))).toEqual(['scotch@7.0.3']);
      expect(ids.filter((k) => k.startsWith('zlib@'))).toEqual(['zlib@1.2.13']);
    }
  });

  it('records provenance, applies in order, warns about no-ops, and reads variants', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-cli-tr-'));
    writeFileSync(join(dir, 'fix.patch'), '--- a/x\n+++ b/x\n');
    const r = tsdsl(['show', 'mumps', '--json', `--with-patch=scotch=${join(dir, 'fix.patch')}`, '--with-configure-flag=hwloc=--disable-cairo', '--without-tests=scotch']);
    expect(r.code, r.stderr).toBe(0);
    const [j] = JSON.parse(r.stdout) as Array<{ properties: { transformations: Array<{ option: string }> } }>;
    expect(j!.properties.transformations.map((t) => t.option)).toEqual(['with-patch', 'without-tests']);
    expect(r.stderr).toMatch(/warning: --with-configure-flag=hwloc=--disable-cairo had no effect on `mumps@5\.5\.1`/);
    const v = tsdsl(['graph', 'mumps~metis', '--max-depth=1']);
    expect(v.stdout).not.toContain('metis@');
    expect(tsdsl(['show', 'scotch+mpi']).stdout).toMatch(/^variants: \+mpi/m);
    expect(tsdsl(['show', 'scotch+mip']).stderr).toMatch(/has no variant `mip`; did you mean `mpi`/);
  });

  it('malformed specs are one clear error each', () => {
    expect(tsdsl(['graph', 'mumps', '--with-input=scotch']).stderr).toMatch(/^tsdsl: error: --with-input=scotch: expected PACKAGE=REPLACEMENT/);
    expect(tsdsl(['graph', 'mumps', '--with-input=scoth=pt-scotch']).stderr).toMatch(/did you mean `scotch`/);
    expect(tsdsl(['show', 'hwloc', '--with-source=./nope/hwloc-2.0.0rc1.tar.gz']).stderr).toMatch(/does not exist/);
    // A missing file is said to be missing, even when its name names no package.
    expect(tsdsl(['show', 'hwloc', '--with-source=./nope-1.0.tar.gz']).stderr).toMatch(/--with-source=\.\/nope-1\.0\.tar\.gz: `\.\/nope-1\.0\.tar\.gz` does not exist/);
    expect(tsdsl(['show', 'mumps', '--tune=pentium9']).stderr).toMatch(/unknown CPU `pentium9`/);
    expect(tsdsl(['--help-transform']).stdout).toMatch(/--with-c-toolchain=PACKAGE=TOOLCHAIN/);
  });
});
