import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync, mkdirSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import parseDot from 'dotparser';
import { XMLParser } from 'fast-xml-parser';
import { BIN, ROOT, tsdsl } from './helpers.js';

interface Edge { source: string; target: string }

/** Nodes and edges of a DOT graph, parsed by a real DOT parser. */
function dotGraph(text: string): { nodes: Map<string, string>; edges: Edge[] } {
  const [g] = parseDot(text) as unknown as Array<{ children: Array<Record<string, unknown>> }>;
  const nodes = new Map<string, string>();
  const edges: Edge[] = [];
  for (const c of g!.children) {
    if (c['type'] === 'node_stmt') {
      const id = (c['node_id'] as { id: string }).id;
      const label = (c['attr_list'] as Array<{ id: string; eq: string }>).find((a) => a.id === 'label')!.eq;
      nodes.set(id, label);
    } else if (c['type'] === 'edge_stmt') {
      const [a, b] = c['edge_list'] as Array<{ id: string }>;
      edges.push({ source: a!.id, target: b!.id });
    }
  }
  return { nodes, edges };
}

const targets = (edges: Edge[], from: string) => edges.filter((e) => e.source.startsWith(`${from}@`)).map((e) => e.target.replace(/@.*/, ''));

describe('tsdsl graph', () => {
  it('prints the DOT graph of mumps: scotch, metis, openblas, gfortran …', () => {
    const r = tsdsl(['graph', 'mumps']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { nodes, edges } = dotGraph(r.stdout);
    expect(targets(edges, 'mumps')).toEqual(expect.arrayContaining(['scotch', 'metis', 'openblas', 'gfortran']));
    expect(targets(edges, 'scotch')).toContain('zlib');
    expect([...nodes.values()]).toContain('zlib@1.2.13');
    // No implicit inputs in the package graph.
    expect([...nodes.keys()].some((n) => n.startsWith('make@'))).toBe(false);
    // Graphviz itself reads it without a warning (.ci/run installs it).
    const dot = spawnSync('dot', ['-Tsvg'], { input: r.stdout, encoding: 'utf8' });
    expect(dot.error, 'graphviz is not installed (apt-get install graphviz)').toBeUndefined();
    expect(dot.status).toBe(0);
    expect(dot.stderr).toBe('');
    expect(dot.stdout).toMatch(/<svg/);
  });

  it('--type=bag adds the implicit inputs (toolchain, make …); bag-emerged drops bootstrap nodes', () => {
    const bag = dotGraph(tsdsl(['graph', 'mumps', '--type=bag']).stdout);
    expect(targets(bag.edges, 'mumps')).toEqual(expect.arrayContaining(['gcc-toolchain', 'make', 'scotch']));
    const emerged = dotGraph(tsdsl(['graph', 'mumps', '--type=bag-emerged']).stdout);
    expect([...emerged.nodes.keys()].some((n) => n.startsWith('make@'))).toBe(false);
    expect(targets(emerged.edges, 'mumps')).toContain('scotch');
  });

  it('--type=reverse-package lists the dependents of scotch', () => {
    const r = tsdsl(['graph', '--type=reverse-package', 'scotch']);
    expect(r.code).toBe(0);
    const { nodes } = dotGraph(r.stdout);
    const names = [...nodes.keys()].map((n) => n.replace(/@.*/, ''));
    expect(names).toEqual(expect.arrayContaining(['scotch', 'mumps']));
    expect(names).not.toContain('zlib');
    // A transformation would make a copy nothing depends on: refused, not an empty graph.
    const t = tsdsl(['graph', '--type=reverse-package', 'scotch', '--with-input=zlib=xz']);
    expect([t.code, t.stdout]).toEqual([1, '']);
    expect(t.stderr).toMatch(/--type=reverse-package finds who depends on a package in the collection.*drop --with-input/);
  });

  it('--path prints the shortest path, one package a line', () => {
    const r = tsdsl(['graph', 'mumps', '--path', 'mumps', 'zlib']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^mumps@/);
    expect(lines.at(-1)).toBe('zlib@1.2.13');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    // FROM and TO the wrong way round: the way round that has a path.
    expect(tsdsl(['graph', '--path', 'zlib', 'mumps']).stderr).toBe('tsdsl: error: no path from `zlib@1.2.13` to `mumps` in the package graph: it is `mumps` that depends on `zlib` (swap them: --path mumps zlib)\n');
    // In a reverse graph the edges go the other way: no such hint.
    expect(tsdsl(['graph', '--type=reverse-package', '--path', 'mumps', 'zlib']).stderr).toMatch(/^tsdsl: error: no path from `mumps@5\.5\.1` to `zlib` in the reverse-package graph\n$/);
    expect(tsdsl(['graph', '--path', 'zlib', 'metis']).stderr).toBe('tsdsl: error: no path from `zlib@1.2.13` to `metis` in the package graph\n');
    // Looking the other way round does not load the collection again, nor warn again.
    const dup = mkdtempSync(join(tmpdir(), 'tsdsl-path-dup-'));
    writeFileSync(join(dup, 'zlib.ts'), "import { definePackage, gnu, licenses } from 'tsdsl';\nexport const myZlib = definePackage({ name: 'zlib', version: '1.2.13', source: null, buildSystem: gnu, synopsis: 'My zlib', description: 'Mine.', homePage: 'https://example.org/', license: licenses.expat });\n");
    const warned = tsdsl(['graph', '-L', dup, '--path', 'hwloc', 'zlib']).stderr;
    expect(warned.match(/ambiguous package specification/g)).toHaveLength(1);
    // --type=bag is suggested only when it has a path: to an implicit input.
    expect(tsdsl(['graph', '--path', 'hwloc', 'make']).stderr).toBe('tsdsl: error: no path from `hwloc@2.9.0` to `make` in the package graph (there is one through implicit inputs: add --type=bag)\n');
    // A package more than FROM and TO is not dropped unsaid.
    const three = tsdsl(['graph', '--path', 'mumps', 'scotch', 'zlib']);
    expect(three.code).toBe(1);
    expect(three.stderr).toBe('tsdsl: error: tsdsl graph --path takes two packages, FROM and TO, not 3 (mumps scotch zlib); one command a pair: tsdsl graph --path mumps scotch, tsdsl graph --path scotch zlib\n');
  });

  it('--path works in the derivation and module graphs, by package name, .drv path or file', () => {
    const d = tsdsl(['graph', '--type=derivation', '--path', 'mumps', 'zlib@1']).stdout.trim().split('\n');
    expect(d[0]).toMatch(/^\/tsdsl\/store\/[0-9a-z]{32}-mumps-[\d.]+\.drv$/);
    expect(d.at(-1)).toMatch(/^\/tsdsl\/store\/[0-9a-z]{32}-zlib-1\.2\.13\.drv$/);
    expect(tsdsl(['graph', '--type=derivation', '--path', 'mumps', d.at(-1)!]).stdout.trim().split('\n')).toEqual(d);
    expect(tsdsl(['graph', '--type=module', '--path', 'mumps', 'base.ts']).stdout).toBe('packages/maths.ts\npackages/base.ts\n');
    expect(tsdsl(['graph', '--path', 'mumps', 'zlib', '--max-depth=1']).stderr).toMatch(/--path prints one node a line, so --max-depth has no effect/);
  });

  it('--max-depth=1 with mermaid shows only direct inputs', () => {
    const r = tsdsl(['graph', 'mumps', '--max-depth=1', '--backend=mermaid']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('flowchart TD\n')).toBe(true);
    expect(r.stdout).toContain('scotch@');
    expect(r.stdout).not.toContain('zlib@');
  });

  it('json and graphml backends parse back to the same nodes and edges as DOT', () => {
    const dot = dotGraph(tsdsl(['graph', 'mumps']).stdout);
    const json = JSON.parse(tsdsl(['graph', 'mumps', '--backend=json']).stdout) as { nodes: Array<{ id: string }>; edges: Edge[] };
    expect(json.nodes.map((n) => n.id).sort()).toEqual([...dot.nodes.keys()].sort());
    expect(json.edges.map((e) => `${e.source}>${e.target}`).sort()).toEqual(dot.edges.map((e) => `${e.source}>${e.target}`).sort());
    const xml = new XMLParser({ ignoreAttributes: false }).parse(tsdsl(['graph', 'mumps', '--backend=graphml']).stdout);
    const g = xml.graphml.graph;
    expect((g.node as Array<Record<string, string>>).map((n) => n['@_id']).sort()).toEqual([...dot.nodes.keys()].sort());
    expect((g.edge as Array<Record<string, string>>).length).toBe(dot.edges.length);
  });

  it('cypher and d3 backends describe every node', () => {
    const dot = dotGraph(tsdsl(['graph', 'mumps']).stdout);
    const cypher = tsdsl(['graph', 'mumps', '--backend=cypher']).stdout;
    expect(cypher.match(/^MERGE \(:Package/gm)!.length).toBe(dot.nodes.size);
    expect(cypher.match(/-\[:DEPENDS_ON\]->/g)!.length).toBe(dot.edges.length);
    const html = tsdsl(['graph', 'mumps', '--backend=d3']).stdout;
    expect(html).toMatch(/^<!DOCTYPE html>/);
    const data = JSON.parse(/<script type="application\/json" id="graph-data">(.*?)<\/script>/s.exec(html)![1]!) as { nodes: unknown[]; edges: unknown[] };
    expect(data.nodes.length).toBe(dot.nodes.size);
    expect(html).not.toMatch(/<script src=/);
  });

  it('--list-types and --list-backends', () => {
    const t = tsdsl(['graph', '--list-types']).stdout;
    for (const n of ['package', 'reverse-package', 'bag', 'bag-emerged']) expect(t).toContain(`  ${n} `);
    const b = tsdsl(['graph', '--list-backends']).stdout;
    for (const n of ['graphviz', 'json', 'mermaid', 'graphml', 'cypher', 'd3']) expect(b).toContain(`  ${n} `);
  });

  it('the same graph twice is the same bytes', () => {
    expect(tsdsl(['graph', 'mumps', '--type=bag']).stdout).toBe(tsdsl(['graph', 'mumps', '--type=bag']).stdout);
  });
});

describe('bad input', () => {
  it('an unknown package suggests close names, with no stack trace', () => {
    const r = tsdsl(['graph', 'mumsp']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsdsl: error: unknown package `mumsp`; did you mean `mumps`/);
    // The command line's ways to add packages, not the code API's.
    expect(r.stderr).toMatch(/\(add your own package files with -L DIR or TSDSL_PACKAGE_PATH\)\n$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
    // Case does not hide a name: MUMPS finds mumps, JSON the json backend.
    expect(tsdsl(['graph', 'MUMPS']).stderr).toMatch(/unknown package `MUMPS`; did you mean `mumps`/);
    expect(tsdsl(['graph', 'hwloc', '--backend=JSON']).stderr).toMatch(/unknown graph backend `JSON`; did you mean `json`/);
    // A three-letter word two edits away shares one letter: no suggestion (`foo` is not `dot`).
    expect(tsdsl(['graph', 'hwloc', '--backend=foo']).stderr).not.toMatch(/did you mean/);
    expect(tsdsl(['graph', 'hwloc', '--backend=dat']).stderr).toMatch(/did you mean `dot`/);
  });

  it('an unknown version, type, backend or option is a one-line error', () => {
    expect(tsdsl(['show', 'hwloc@7']).stderr).toMatch(/`hwloc` has no version matching `7`; available: 2\.9\.0, 1\.11\.13/);
    // Spack's range syntax gets the semver range it means; --tune=generic, the way to no tuning.
    expect(tsdsl(['show', 'hwloc@2.1:2.9']).stderr).toMatch(/has no version matching `2\.1:2\.9`; available: 2\.9\.0, 1\.11\.13 \(a range is written as in npm's semver: `>=2\.1 <=2\.9`\)\n$/);
    expect(tsdsl(['show', 'hwloc@>=2.1 <=2.9']).stdout).toMatch(/^version: 2\.9\.0$/m);
    expect(tsdsl(['show', 'hwloc', '--tune=generic']).stderr).toMatch(/unknown CPU `generic`; for no tuning, leave --tune out/);
    expect(tsdsl(['graph', 'mumps', '--type=bagg']).stderr).toMatch(/unknown graph type `bagg`; did you mean `bag`/);
    expect(tsdsl(['graph', 'mumps', '--backend=dott']).stderr).toMatch(/unknown graph backend `dott`/);
    expect(tsdsl(['graph', 'mumps', '--max-dept=1']).stderr).toMatch(/unknown option `--max-dept`; did you mean `--max-depth`/);
    expect(tsdsl(['grpah']).stderr).toMatch(/unknown command `grpah`; did you mean `graph`/);
    // A long option with one dash, an optional value given as the next word, --json for a backend.
    expect(tsdsl(['graph', 'mumps', '-with-input=scotch=pt-scotch']).stderr).toBe('tsdsl: error: tsdsl graph: `-with-input=scotch=pt-scotch` has one dash; long options take two: `--with-input=scotch=pt-scotch`\n');
    // Even when each letter is a short option (-d -r y-run would write a root named y-run).
    expect(tsdsl(['build', '-dry-run', 'hwloc']).stderr).toBe('tsdsl: error: tsdsl build: `-dry-run` has one dash; long options take two: `--dry-run`\n');
    // `-t=bag` is `-t bag` (the value was `=bag`); `-t=` has none.
    expect(tsdsl(['graph', 'mumps', '-t=bag', '-b=json']).code).toBe(0);
    expect(tsdsl(['graph', 'mumps', '-t=']).stderr).toBe('tsdsl: error: tsdsl graph: -t= has an empty value; give one (-t TYPE)\n');
    expect(tsdsl(['graph', 'mumps', '--tune', 'native']).stderr).toBe('tsdsl: error: `native` after --tune is read as a package, and there is none of that name: --tune takes a value only with `=`; write --tune=native\n');
    // A misspelt package after --tune is that, with its suggestion.
    expect(tsdsl(['graph', '--tune', 'hwlocc']).stderr).toMatch(/unknown package `hwlocc`; did you mean `hwloc`\?/);
    expect(tsdsl(['graph', '--tune', 'mumps']).code).toBe(0);
    expect(tsdsl(['graph', 'mumps', '--json']).stderr).toMatch(/unknown option `--json`; JSON is one of its backends: --backend=json/);
    for (const args of [['show', 'hwloc@7'], ['graph', 'mumps', '--type=bagg'], ['grpah']]) expect(tsdsl(args).code).not.toBe(0);
  });

  it('--debug adds the stack trace', () => {
    expect(tsdsl(['graph', 'mumsp', '--debug']).stderr).toMatch(/\n\s+at /);
  });
});

describe('user package files (-L)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsdsl-user-'));
  mkdirSync(join(dir, 'my-packages'));
  writeFileSync(
    join(dir, 'my-packages', 'solver.ts'),
    `import { definePackage, licenses, type Package } from 'tsdsl';
import { gnu } from 'tsdsl';
import { mumps, hwloc } from 'tsdsl/packages';
import { helper } from './helper';

// A scientist's own solver, built on the default collection.
export const mySolver: Package = definePackage({
  name: 'my-solver',
  version: '0.1',
  buildSystem: gnu,
  inputs: [mumps, hwloc, helper],
  synopsis: 'Our group solver',
  description: 'Solves our problems with MUMPS.',
  homePage: 'https://example.org/solver',
  license: licenses.gpl3Plus,
});
`,
  );
  writeFileSync(
    join(dir, 'my-packages', 'helper.ts'),
    `import { definePackage, licenses, trivial } from 'tsdsl';
interface Unused { x: number }
export const helper = definePackage({
  name: 'my-helper', version: '1.0', buildSystem: trivial,
  synopsis: 'Helper', description: 'Helper.', homePage: 'https://example.org/', license: licenses.expat,
});
`,
  );

  it('loads TypeScript package files that import tsdsl and tsdsl/packages', () => {
    const r = tsdsl(['graph', '-L', './my-packages', 'my-solver'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { edges } = dotGraph(r.stdout);
    expect(targets(edges, 'my-solver').sort()).toEqual(['hwloc', 'mumps', 'my-helper']);
    // The imported mumps is the collection's object: its subgraph is there, once.
    expect(targets(edges, 'mumps')).toContain('scotch');
    const show = tsdsl(['show', 'my-solver'], { cwd: dir, env: { TSDSL_PACKAGE_PATH: join(dir, 'my-packages') } });
    expect(show.stdout).toMatch(/^location: .*my-packages\/solver\.ts:7$/m);
  });

  it('reports a syntax error and a validation error with file and line', () => {
    const bad = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(bad, 'broken.ts'), 'import { definePackage } from "tsdsl";\n\nexport const x = definePackage({ name: "x", \n  version: ;\n});\n');
    const r = tsdsl(['graph', '-L', bad, 'x']);
    expect(r.code).toBe(1);
    // Line and column of the `;` where the value should be (counted from 1), said once.
    expect(r.stderr).toBe(`tsdsl: error: syntax error in package file ${bad}/broken.ts:4:12: Unexpected token\n`);
    // A namespace, which stripping types would drop (its name undefined at run time), is refused where it is.
    const ns = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(ns, 'n.ts'), 'import { definePackage } from "tsdsl";\n// namespace in a comment\nexport namespace Defaults {\n  export const v = "1";\n}\n');
    expect(tsdsl(['graph', '-L', ns, 'x']).stderr).toMatch(new RegExp(`^tsdsl: error: syntax error in package file ${ns}/n\\.ts:3: TypeScript namespaces that hold values \\(\`namespace Defaults\`\\) are not supported in package files`));
    // Run from a directory deleted meanwhile: said, not `ENOENT uv_cwd` from deep inside.
    const gone = spawnSync('sh', ['-c', `mkdir ${ns}/gone && cd ${ns}/gone && rmdir ${ns}/gone && exec "${process.execPath}" "${BIN}" graph hwloc`], { encoding: 'utf8' });
    expect(gone.stderr).toBe('tsdsl: error: the current directory no longer exists (it was deleted after you went there); cd to an existing directory and run tsdsl again\n');
    // A package file named as a package, from its directory: -L loads it.
    expect(tsdsl(['show', 'n.ts'], { cwd: ns }).stderr).toBe('tsdsl: error: unknown package `n.ts`: that is a file; to load its packages, give it to -L: -L n.ts NAME\n');
    // A namespace of types alone is stripped whole, and C++ in a template literal is text: both load.
    writeFileSync(join(ns, 'n.ts'), 'export namespace Opts {\n  export type Flag = string;\n}\nexport const cpp: Opts.Flag = `\nnamespace check {\n  int x;\n}\n`;\n');
    expect(tsdsl(['show', '-L', ns, 'hwloc']).code).toBe(0);
    const bad2 = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(bad2, 'invalid.ts'), 'import { definePackage, trivial, licenses } from "tsdsl";\n\nexport const y = definePackage({\n  name: "y", version: 42 as unknown as string, buildSystem: trivial,\n  synopsis: "s", description: "d", homePage: "https://example.org/", license: licenses.expat, inputs: [undefined as never],\n});\n');
    const r2 = tsdsl(['graph', '-L', bad2, 'y']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(`package \`y\` at ${bad2}/invalid.ts:3 has 2 problems`);
    expect(r2.stderr).toContain('version 42');
    // Several problems are listed in the order of their lines, a phase's at its line too.
    writeFileSync(
      join(bad2, 'invalid.ts'),
      'import { definePackage, gnu, licenses } from "tsdsl";\n\nexport const y = definePackage({\n  name: "y",\n  version: "1",\n  buildSystem: gnu,\n  synopsis: 5 as never,\n  description: "D.",\n  homePage: "nope",\n  license: licenses.expat,\n  arguments: { configureFlags: "--x" as never, phases: { buld: "true" } as never },\n  inputs: ["zlib" as never],\n});\n',
    );
    const lines = [...tsdsl(['show', '-L', bad2, 'y']).stderr.matchAll(/invalid\.ts:(\d+)\)$/gm)].map((m) => Number(m[1]));
    expect(lines).toEqual([7, 9, 11, 11, 12]);
    const bad3 = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(bad3, 'throws.ts'), 'import "tsdsl/packages";\nthrow new Error("boom");\n');
    const r3 = tsdsl(['graph', '-L', bad3, 'z']);
    expect(r3.stderr).toMatch(new RegExp(`loading package file ${bad3}/throws\\.ts:2 failed: boom`));
    const bad4 = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(bad4, 'a.ts'), 'import { definePackage } from "tsdsl";\n\nimport { helper } from "./helpers";\nexport const z = helper;\n');
    expect(tsdsl(['graph', '-L', bad4, 'z']).stderr).toContain(`${bad4}/a.ts:3 imports \`${bad4}/helpers\`, which does not exist`);
    expect(tsdsl(['graph', '-L', '/nonexistent/dir', 'x']).stderr).toMatch(/package directory `\/nonexistent\/dir` .* does not exist/);
  });

  it('loads only package files: not scripts in a source tree, not through dangling links or link loops', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-load-'));
    writeFileSync(
      join(dir, 'mine.ts'),
      `import { definePackage, trivial, licenses, local } from 'tsdsl';\nexport const mine = definePackage({ name: 'mine', version: '1', buildSystem: trivial, source: local('./tree'), synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });\n`,
    );
    mkdirSync(join(dir, 'tree/sub'), { recursive: true });
    writeFileSync(join(dir, 'tree/setup.js'), 'process.exit(3);\n');
    writeFileSync(join(dir, 'tree/sub/build.ts'), 'throw new Error("a script of the source tree ran");\n');
    symlinkSync('/nonexistent', join(dir, 'tree/dangling'));
    symlinkSync('..', join(dir, 'tree/sub/loop'));
    const r = tsdsl(['show', '-L', dir, 'mine']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^name: mine$/m);
    // A directory its user cannot read is skipped with a warning (tsdsltest: root reads anything).
    mkdirSync(join(dir, 'tree/private'));
    chmodSync(join(dir, 'tree/private'), 0);
    chmodSync(dir, 0o755);
    const user = spawnSync('runuser', ['-u', 'tsdsltest', '--', process.execPath, BIN, 'show', '-L', dir, 'mine'], { encoding: 'utf8', env: { ...process.env, HOME: dir, TSDSL_PACKAGE_PATH: '' } });
    if (process.getuid?.() !== 0 || user.error || /runuser: user tsdsltest does not exist/.test(user.stderr)) {
      console.log('skipped the unreadable-directory check: it needs root and the user tsdsltest (root reads any directory)');
    }
    else {
      expect(user.status, user.stderr).toBe(0);
      expect(user.stderr).toMatch(/^tsdsl: warning: -L .*: 1 directory under it cannot be read and was skipped: .*\/tree\/private \(EACCES\)$/m);
    }
    expect(tsdsl(['show', '-L', '/', 'mine']).stderr).toMatch(/package directory `\/` .* is the whole file system/);
    expect(tsdsl(['show', '-L', join(dir, 'tree/setup.js').replace('.js', '.txt'), 'mine']).stderr).toMatch(/\(from -L, or loadPath in the API\) does not exist/);
    // A stale TSDSL_PACKAGE_PATH entry is a warning: the default collection still works.
    const stale = tsdsl(['show', 'zlib'], { env: { TSDSL_PACKAGE_PATH: join(dir, 'no-such-dir') } });
    expect(stale.code, stale.stderr).toBe(0);
    expect(stale.stderr).toMatch(/^tsdsl: warning: package directory `.*no-such-dir` \(from TSDSL_PACKAGE_PATH\) does not exist; it is left out \(remove it from TSDSL_PACKAGE_PATH\)\n$/);
    writeFileSync(join(dir, 'notes.txt'), 'x');
    expect(tsdsl(['show', '-L', join(dir, 'notes.txt'), 'mine']).stderr).toMatch(/notes\.txt` \(from -L, or loadPath in the API\) is neither a directory nor a package file/);
    chmodSync(dir, 0o700);
    const closed = spawnSync('runuser', ['-u', 'tsdsltest', '--', process.execPath, BIN, 'show', '-L', dir, 'mine'], { encoding: 'utf8', env: { ...process.env, HOME: dir, TSDSL_PACKAGE_PATH: '' } });
    if (process.getuid?.() === 0 && !user.error) expect(closed.stderr).toMatch(/package directory `.*` \(from -L, or loadPath in the API\) cannot be read \(EACCES\); check its permissions/);
  });

  it('a name used before its definition ran, between two files importing each other: the file and line, and the way out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-cycle-'));
    writeFileSync(join(dir, 'a.ts'), `import { definePackage, trivial, licenses } from 'tsdsl';\nimport { fromB } from './b';\nexport const common = { synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat };\nexport const a = definePackage({ name: 'a', version: '1', buildSystem: trivial, ...common, inputs: [fromB] });\n`);
    writeFileSync(join(dir, 'b.ts'), `import { definePackage, trivial } from 'tsdsl';\nimport { common } from './a';\nexport const fromB = definePackage({ name: 'b', version: '1', buildSystem: trivial, ...common });\n`);
    expect(tsdsl(['show', '-L', dir, 'a']).stderr).toBe(
      `tsdsl: error: loading package file ${dir}/b.ts:3 failed: Cannot access 'common' before initialization: \`common\` is used before its definition has run. Define it above its first use; if two package files import each other, move what both need into a third file that both import\n`,
    );
  });

  it('imports a directory by its index.ts; a file that throws something not an Error is said plainly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-dirimport-'));
    const meta = "synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat";
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib/index.ts'), `import { definePackage, trivial, licenses } from 'tsdsl';\nexport const helper = definePackage({ name: 'helper', version: '1', buildSystem: trivial, ${meta} });\n`);
    writeFileSync(join(dir, 'top.ts'), `import { definePackage, trivial, licenses } from 'tsdsl';\nimport { helper } from './lib';\nexport const top = definePackage({ name: 'top', version: '1', buildSystem: trivial, inputs: [helper], ${meta} });\n`);
    const r = tsdsl(['graph', '-L', dir, 'top']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"helper@1"');
    // With a trailing slash, the same module (not loaded twice, as helper@1 and helper@1#1).
    writeFileSync(join(dir, 'top.ts'), readFileSync(join(dir, 'top.ts'), 'utf8').replace("'./lib'", "'./lib/'"));
    const slash = tsdsl(['graph', '-L', dir, 'top', 'helper']);
    expect(slash.code, slash.stderr).toBe(0);
    expect(slash.stdout).toContain('"top@1" -> "helper@1"');
    expect(slash.stdout).not.toContain('#1');
    for (const [thrown, shown] of [["'oops'", "'oops'"], ['null', 'null'], ['{ code: 3 }', '{ code: 3 }']] as const) {
      const bad = mkdtempSync(join(tmpdir(), 'tsdsl-throws-'));
      writeFileSync(join(bad, 'b.ts'), `import { definePackage } from 'tsdsl';\nif (definePackage) throw ${thrown};\n`);
      const e = tsdsl(['show', '-L', bad, 'zlib']);
      expect(e.code).toBe(1);
      expect(e.stderr).toBe(`tsdsl: error: loading package file ${bad}/b.ts failed: it (or a file it imports) threw ${shown}, which is not an Error; throw new Error('…') to say what is wrong, with the line\n`);
      // On TSDSL_PACKAGE_PATH, a broken file is a warning and the rest still works.
      const warned = tsdsl(['show', 'zlib'], { env: { TSDSL_PACKAGE_PATH: bad } });
      expect(warned.code, warned.stderr).toBe(0);
      expect(warned.stderr).toContain(`threw ${shown}, which is not an Error`);
    }
  });

  it('a full disk on standard output is an error line, not a stack trace', () => {
    const full = openSync('/dev/full', 'w');
    const r = spawnSync(process.execPath, [BIN, 'graph', 'mumps'], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', env: { ...process.env, TSDSL_PACKAGE_PATH: '' } });
    closeSync(full);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('tsdsl: error: cannot write to standard output: ENOSPC (no space left on the device)\n');
  });

  it('loadCollection takes one directory as a string (it used to scan / letter by letter)', async () => {
    // The built module, as the CLI runs it: the .ts loader hooks need plain Node, not vitest's.
    const { loadCollection } = (await import(pathToFileURL(join(ROOT, 'dist/src/registry/load.js')).href)) as typeof import('../../src/registry/load.js');
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-load-string-'));
    writeFileSync(join(dir, 'one.ts'), `import { definePackage, trivial, licenses } from 'tsdsl';\nexport const one = definePackage({ name: 'one', version: '1', buildSystem: trivial, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });\n`);
    const c = await loadCollection({ loadPath: dir, useEnv: false });
    expect(c.resolve('one').name).toBe('one');
    // Its warnings go where onWarning says (a stale TSDSL_PACKAGE_PATH entry here).
    const heard: string[] = [];
    await loadCollection({ loadPath: dir, env: { TSDSL_PACKAGE_PATH: '/nonexistent-tsdsl-dir' }, noDefault: true, onWarning: (w: string) => heard.push(w) });
    expect(heard).toEqual(['package directory `/nonexistent-tsdsl-dir` (from TSDSL_PACKAGE_PATH) does not exist; it is left out (remove it from TSDSL_PACKAGE_PATH)']);
    // The loader's hook answers for tsdsl/* in the whole process (a Node process: vitest's own
    // module runner does not go through it): package.json stays importable after loading.
    const script = join(mkdtempSync(join(tmpdir(), 'tsdsl-load-json-')), 'reads-version.mjs');
    writeFileSync(
      script,
      `const { loadCollection } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/src/registry/load.js')).href)});\n` +
        `await loadCollection({ loadPath: ${JSON.stringify(dir)}, useEnv: false });\n` +
        "console.log((await import('tsdsl/package.json', { with: { type: 'json' } })).default.name);\n",
    );
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    expect(r.stdout, r.stderr).toBe('tsdsl\n');
  });

  it('a misspelt tsdsl module names the line; a file importing tsdsl by a path is named when its package is not found', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-modules-'));
    const body = `export const w = definePackage({ name: 'w', version: '1', buildSystem: trivial, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });\n`;
    // (An import whose names are unused is dropped with the types, so this one is used.)
    writeFileSync(join(dir, 'a.ts'), `import { definePackage, trivial, licenses } from 'tsdsl';\nimport { zlib } from 'tsdsl/package';\n${body.replace('version:', 'inputs: [zlib], version:')}`);
    expect(tsdsl(['show', '-L', dir, 'w']).stderr).toContain(`${dir}/a.ts:2 imports 'tsdsl/package', which tsdsl does not have; did you mean \`tsdsl/packages\`? (its modules are 'tsdsl' and 'tsdsl/packages')`);
    writeFileSync(join(dir, 'a.ts'), `import { definePackage, trivial, licenses } from '${ROOT}/dist/src/index.js';\n${body}`);
    expect(tsdsl(['show', '-L', dir, 'w']).stderr).toMatch(new RegExp(`unknown package \`w\`.*\\(not loaded, as it does not import from 'tsdsl' or 'tsdsl/packages', directly or through a module of its own: ${dir}/a\\.ts; import the DSL as`));
  });

  it('a file whose packages a helper module of the user makes is loaded; a script importing no tsdsl is not run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-helpers-'));
    mkdirSync(join(dir, 'lib'));
    mkdirSync(join(dir, 'src'));
    // lib/index.ts imports tsdsl; mid.ts imports it as './lib' (and is imported back: a cycle);
    // mine.ts reaches tsdsl only through mid.
    writeFileSync(
      join(dir, 'lib', 'index.ts'),
      `import { definePackage, trivial, licenses } from 'tsdsl';\nimport './../mid';\nexport const simple = (name: string) => definePackage({ name, version: '1', buildSystem: trivial, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat });\n`,
    );
    writeFileSync(join(dir, 'mid.ts'), `export { simple } from './lib';\n`);
    writeFileSync(join(dir, 'mine.ts'), `import { simple } from './mid.js';\nexport const helped = simple('helped');\n`);
    // A source tree's script, with a helper of its own: never run by a command.
    writeFileSync(join(dir, 'src', 'util.mjs'), `export const x = 1;\n`);
    writeFileSync(join(dir, 'src', 'run.mjs'), `import { x } from './util.mjs';\nimport { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(join(dir, 'ran'))}, String(x));\n`);
    const r = tsdsl(['show', '-L', dir, 'helped']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('name: helped');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  it("each of a definition's problems names the line of its field, unless the definition spreads fields in", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsdsl-field-lines-'));
    writeFileSync(
      join(dir, 'bad.ts'),
      "import { definePackage, gnu, licenses } from 'tsdsl';\nexport const bad = definePackage({\n  name: 'bad1',\n  version: 42.10,\n  source: null,\n  buildSystem: gnu,\n  sypnosis: 'x',\n  description: 'D.',\n  homePage: 'not a url',\n  license: 'MIT',\n});\n",
    );
    const said = tsdsl(['show', '-L', dir, 'bad1']).stderr;
    expect(said).toContain('unknown field `sypnosis`; did you mean `synopsis`? (' + dir + '/bad.ts:7)');
    expect(said).toMatch(new RegExp(`- version 42\\.1 is a number.* \\(${dir}/bad\\.ts:4\\)\n`));
    expect(said).toContain(`homePage \`not a url\` is not an http(s) URL (${dir}/bad.ts:9)`);
    expect(said).toMatch(new RegExp(`- license must be .* \\(${dir}/bad\\.ts:10\\)\n`));
    // A helper's defaults overridden by a spread: its own `version:` line is not the one at fault.
    writeFileSync(
      join(dir, 'bad.ts'),
      "import { definePackage, gnu, licenses } from 'tsdsl';\nconst make = (o: object) => definePackage({\n  name: 'bad1',\n  version: '1.0',\n  source: null, buildSystem: gnu, synopsis: 'S', description: 'D.', homePage: 'https://example.org/', license: licenses.expat,\n  ...o,\n});\nexport const bad = make({ version: 42.10 });\n",
    );
    expect(tsdsl(['show', '-L', dir, 'bad1']).stderr).toMatch(/version 42\.1 is a number, not a string: quote it as written \(`version: '1\.0'`; a number drops zeros, 1\.0 is 1 and 2\.10 is 2\.1\)\n$/);
  });

  it('a name used without its import, or imported from the wrong module: the import to add, or the closest names', () => {
    const bad = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    const file = (input: string) =>
      `import { definePackage, trivial, licenses } from "tsdsl";\n\nexport const w = definePackage({\n  name: "w", version: "1", buildSystem: trivial,\n  synopsis: "s", description: "d", homePage: "https://example.org/", license: licenses.expat, inputs: [${input}],\n});\n`;
    writeFileSync(join(bad, 'w.ts'), file('hwloc'));
    const forgot = tsdsl(['graph', '-L', bad, 'w']);
    expect(forgot.code).toBe(1);
    expect(forgot.stderr).toContain(`loading package file ${bad}/w.ts:5 failed: hwloc is not defined; import it: \`import { hwloc } from 'tsdsl/packages';\``);
    writeFileSync(join(bad, 'w.ts'), file('hwlocc'));
    expect(tsdsl(['graph', '-L', bad, 'w']).stderr).toMatch(/hwlocc is not defined; did you mean `hwloc`.*imported from 'tsdsl\/packages'/);
    // Imported from the wrong module, or misspelt in the import itself.
    writeFileSync(join(bad, 'w.ts'), file('hwloc').replace('licenses }', 'licenses, hwloc }'));
    expect(tsdsl(['graph', '-L', bad, 'w']).stderr).toContain(
      `${bad}/w.ts:1 failed: The requested module 'tsdsl' does not provide an export named 'hwloc'; \`hwloc\` comes from 'tsdsl/packages': \`import { hwloc } from 'tsdsl/packages';\``,
    );
    writeFileSync(join(bad, 'w.ts'), `import { hwlok } from 'tsdsl/packages';\n${file('hwlok')}`);
    expect(tsdsl(['graph', '-L', bad, 'w']).stderr).toMatch(/w\.ts:1 failed: .*does not provide an export named 'hwlok'; did you mean `hwloc`/);
  });
  it('a file of TSDSL_PACKAGE_PATH that fails to load is a warning, and its packages are left out; with -L it is an error', () => {
    const bad = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(bad, 'a.ts'), 'import { definePackage, licenses } from "tsdsl";\nexport const a = definePackage({ name: "a", version: "1", buildSystem: "gnu" as never, synopsis: "s", description: "d", homePage: "https://example.org/", license: licenses.expat });\n');
    const problem = `package \`a\` at ${bad}/a.ts:2: buildSystem must be a build system such as gnu, cmake or trivial, not the string "gnu"`;
    const other = tsdsl(['show', 'zlib'], { env: { TSDSL_PACKAGE_PATH: bad } });
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(/^name: zlib$/m);
    expect(other.stderr).toBe(`tsdsl: warning: ${problem} (a file of TSDSL_PACKAGE_PATH: its packages are left out until it loads)\n`);
    const own = tsdsl(['show', 'a'], { env: { TSDSL_PACKAGE_PATH: bad } });
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(new RegExp(`tsdsl: error: unknown package \`a\`.* \\(${bad}/a\\.ts failed to load, see the warning above, and may define it\\)\n$`));
    // A misspelt name keeps its suggestion.
    expect(tsdsl(['show', 'zlibb'], { env: { TSDSL_PACKAGE_PATH: bad } }).stderr).toMatch(new RegExp(`unknown package \`zlibb\`; did you mean \`zlib\`.*\\? \\(${bad}/a\\.ts failed to load`));
    expect(tsdsl(['show', '-L', bad, 'zlib']).stderr).toBe(`tsdsl: error: ${problem}\n`);
    // Through a symlinked directory, the error names the file as the warning does (its real path).
    const link = `${bad}-link`;
    symlinkSync(bad, link);
    const linked = tsdsl(['show', 'a'], { env: { TSDSL_PACKAGE_PATH: link } });
    expect(linked.stderr).toContain(`at ${bad}/a.ts:2`);
    expect(linked.stderr).toMatch(new RegExp(`unknown package \`a\`.* \\(${bad}/a\\.ts failed to load, see the warning above`));
    rmSync(link);
  });

  it('a broken file of TSDSL_PACKAGE_PATH that many files import is one warning naming them, not one per importer', () => {
    const bad = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(bad, 'common.ts'), 'import { licenses } from "tsdsl";\nexport const lic = licenses.expat;\nthrow new Error("boom");\n');
    for (let i = 0; i < 8; i++) writeFileSync(join(bad, `user${i}.ts`), 'import { lic } from "./common";\nexport const x = lic;\n');
    const r = tsdsl(['show', 'zlib'], { env: { TSDSL_PACKAGE_PATH: bad } });
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter(Boolean);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBe(
      `tsdsl: warning: loading package file ${bad}/common.ts:3 failed: boom (the same error stops 9 files of TSDSL_PACKAGE_PATH, that file and those that import it; their packages are left out until it loads: ${bad}/common.ts, ${bad}/user0.ts, ${bad}/user1.ts, ${bad}/user2.ts, ${bad}/user3.ts, and 4 more)`,
    );
  });

  it('files of TSDSL_PACKAGE_PATH broken each on its own, the same way, are a warning each, not one said to import the other', () => {
    const bad = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    // The same syntax error at the same place in two files that do not import each other.
    for (const f of ['c.ts', 'd.ts']) writeFileSync(join(bad, f), "import { licenses } from 'tsdsl';\nexport const y = ;\n");
    const r = tsdsl(['show', 'zlib'], { env: { TSDSL_PACKAGE_PATH: bad } });
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter(Boolean);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(new RegExp(`^tsdsl: warning: syntax error in package file ${bad}/c\\.ts:2:\\d+: .*\\(a file of TSDSL_PACKAGE_PATH: its packages are left out until it loads\\)$`));
    expect(warnings[1]).toMatch(new RegExp(`^tsdsl: warning: syntax error in package file ${bad}/d\\.ts:2:\\d+: `));
    // A file importing a broken one is said with it: its error names the broken file, not itself.
    const imp = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(imp, 'a.ts'), "import { licenses } from 'tsdsl';\nimport 'no-such-module-of-tsdsl-tests';\nexport const lic = licenses.expat;\n");
    writeFileSync(join(imp, 'f.ts'), "import { lic } from './a.ts';\nexport const x = lic;\n");
    const both = tsdsl(['show', 'zlib'], { env: { TSDSL_PACKAGE_PATH: imp } }).stderr.split('\n').filter(Boolean);
    expect(both).toHaveLength(1);
    expect(both[0]).toContain(`(the same error stops 2 files of TSDSL_PACKAGE_PATH, that file and those that import it; their packages are left out until it loads: ${imp}/a.ts, ${imp}/f.ts)`);
    // A file that fails to link (an import tsdsl does not export): Node then fails every file
    // importing it with "request for 'tsdsl' is not in cache", naming neither; they are said
    // with the broken file, directly or not, and not imported at all.
    const link = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    writeFileSync(join(link, 'a.ts'), "import { licenses } from 'tsdsl';\nimport { nosuch } from 'tsdsl/packages';\nexport const lic = [licenses.expat, nosuch];\n");
    writeFileSync(join(link, 'b.ts'), "import { trivial } from 'tsdsl';\nimport { lic } from './a.ts';\nexport const x = [lic, trivial];\n");
    writeFileSync(join(link, 'c.ts'), "import { x } from './b';\nimport { licenses } from 'tsdsl';\nexport const y = [x, licenses];\n");
    writeFileSync(join(link, 'd.ts'), "import { definePackage, licenses, trivial } from 'tsdsl';\nexport const d = definePackage({ name: 'd-fine', version: '1', buildSystem: trivial, synopsis: 's', description: 'd.', homePage: 'https://example.org/', license: licenses.expat });\n");
    const chain = tsdsl(['show', 'd-fine'], { env: { TSDSL_PACKAGE_PATH: link } });
    expect(chain.code).toBe(0);
    const said = chain.stderr.split('\n').filter(Boolean);
    expect(said).toEqual([
      `tsdsl: warning: loading package file ${link}/a.ts:2 failed: The requested module 'tsdsl/packages' does not provide an export named 'nosuch' (the same error stops 3 files of TSDSL_PACKAGE_PATH, that file and those that import it; their packages are left out until it loads: ${link}/a.ts, ${link}/b.ts, ${link}/c.ts)`,
    ]);
    expect(chain.stderr).not.toMatch(/not in cache/);
  });

  it("a helper's error names the line that called it; a misspelt variant in a variant function is an error; an unexported package is said to be one", () => {
    const bad = mkdtempSync(join(tmpdir(), 'tsdsl-bad-'));
    const pkg = (fields: string) =>
      `definePackage({\n  name: "w", version: "1", buildSystem: trivial,${fields}\n  synopsis: "s", description: "d", homePage: "https://example.org/", license: licenses.expat,\n})`;
    const head = 'import { definePackage, trivial, licenses, withVariants } from "tsdsl";\nimport { scotch, zlib } from "tsdsl/packages";\n';
    // withVariants throws while the file loads: the error says which line of which file.
    writeFileSync(join(bad, 'w.ts'), `${head}export const w = ${pkg('\n  inputs: [withVariants(scotch, { mpii: true })],')};\n`);
    expect(tsdsl(['show', '-L', bad, 'hwloc']).stderr).toBe(
      `tsdsl: error: loading package file ${bad}/w.ts:5 failed: \`scotch\` has no variant \`mpii\`; did you mean \`mpi\`? Its variants: mpi (boolean), int64 (boolean)\n`,
    );
    // `v.mpii` for the declared `mpi` would silently turn the variant off.
    writeFileSync(join(bad, 'w.ts'), `${head}export const w = ${pkg('\n  variants: { mpi: false },\n  inputs: (v) => (v.mpii ? [zlib] : []),')};\n`);
    expect(tsdsl(['show', '-L', bad, 'w']).stderr).toBe(
      `tsdsl: error: package \`w\` at ${bad}/w.ts:3: a variant function reads the variant \`mpii\`, which the package does not declare; did you mean \`mpi\`? (its variants: mpi)\n`,
    );
    // A read only a chosen variant reaches: said when it is chosen, with the package's line.
    writeFileSync(join(bad, 'w.ts'), `${head}export const w = ${pkg('\n  variants: { mpi: false },\n  inputs: (v) => (v.mpi && v.mpii ? [zlib] : []),')};\n`);
    expect(tsdsl(['show', '-L', bad, 'w']).code).toBe(0);
    expect(tsdsl(['show', '-L', bad, 'w', '+mpi']).stderr).toBe(
      `tsdsl: error: package \`w\` at ${bad}/w.ts:3: a variant function reads the variant \`mpii\`, which the package does not declare; did you mean \`mpi\`? (its variants: mpi)\n`,
    );
    // The function's own error, for one choice: the package's problem, with the choice and the
    // line that threw (it was an internal error of tsdsl).
    writeFileSync(join(bad, 'w.ts'), `${head}export const w = ${pkg('\n  variants: { mpi: false },\n  arguments: (v) => {\n    if (v.mpi) throw new Error("mpi is not supported yet");\n    return {};\n  },')};\n`);
    expect(tsdsl(['show', '-L', bad, 'w']).code).toBe(0);
    const threw = tsdsl(['show', '-L', bad, 'w+mpi']);
    expect(threw.code).toBe(1);
    expect(threw.stderr).toBe(`tsdsl: error: package \`w\` at ${bad}/w.ts:3: \`arguments\` (a function of the variants) threw with +mpi: mpi is not supported yet (at ${bad}/w.ts:7)\n`);
    // Declared variants, and the names every object has, read as before.
    writeFileSync(join(bad, 'w.ts'), `${head}export const w = ${pkg('\n  variants: { mpi: false },\n  inputs: (v) => (v.mpi || String(v.toString) === "" ? [zlib] : []),')};\n`);
    expect(tsdsl(['show', '-L', bad, 'w+mpi']).stdout).toMatch(/^dependencies: zlib@1\.2\.13$/m);
    // Defined, not exported.
    writeFileSync(join(bad, 'w.ts'), `${head}const w = ${pkg('')};\nexport const other = w.with({ name: "other" });\n`);
    expect(tsdsl(['show', '-L', bad, 'w']).stderr).toBe(
      `tsdsl: error: unknown package \`w\`: ${bad}/w.ts:4 defines it, but the file does not export it; tsdsl knows the packages a file exports at its top level: write \`export const … = definePackage({ name: 'w', … })\`\n`,
    );
  });
});
