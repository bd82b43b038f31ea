/**
 * The `module` node type (Guix's `guix graph --type=module`): the package files that define a
 * package's closure, and the imports between them — a package's inputs are imported by the file
 * that defines it, so walking imports from that file reaches every file of the closure. Files are parsed and their import specifiers
 * resolved with ts-morph (TypeScript's own module resolution, `.js` specifiers mapped to `.ts`
 * sources, `tsdsl/packages` to the default collection), following imports that stay inside the
 * package collections (the default one and -L directories); tsdsl's own modules and
 * node_modules are left out. ts-morph is imported only when this type is asked for.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inDependency } from '../dsl/location.js';
import type { Package } from '../dsl/package.js';
import type { GraphNode, NodeType } from './node-types.js';

/** A file; `id` is its name as shown (relative to the working directory when under it). */
type ModuleNode = { readonly kind: 'module'; readonly id: string; readonly label: string; readonly file: string };

/** The tsdsl installation: `src/`, `dist/` and `packages/` live under it. */
const ROOT = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const parts = here.split(sep);
  const i = parts.lastIndexOf('dist');
  return i >= 0 ? parts.slice(0, i).join(sep) : join(here, '..', '..');
})();

const nodes = new Map<string, ModuleNode>();
let edgeMap = new Map<string, string[]>();

function node(file: string): ModuleNode {
  let n = nodes.get(file);
  if (!n) {
    const cwd = process.cwd();
    const label = file.startsWith(cwd + sep) ? relative(cwd, file) : file;
    nodes.set(file, (n = { kind: 'module', id: label, label, file }));
  }
  return n;
}

/** True for files that belong to a package collection rather than to tsdsl or a dependency. */
function inCollection(file: string): boolean {
  if (file.endsWith('.d.ts')) return false;
  for (const own of ['src', 'dist']) if (file.startsWith(join(ROOT, own) + sep)) return false;
  // tsdsl's own packages/ are the default collection even where tsdsl is installed in a node_modules.
  return !inDependency(file);
}

/** The source files defining `packages` (the roots; their inputs are reached through imports). */
function definingFiles(packages: readonly Package[]): string[] {
  const files = new Set<string>();
  for (const p of packages) {
    const f = p.location?.file;
    if (f && existsSync(f)) files.add(f);
  }
  return [...files];
}

/** Compute the import graph from the packages' files; returns the root files. */
async function importGraph(packages: readonly Package[]): Promise<string[]> {
  const { Project, ts } = await import('ts-morph');
  const project = new Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true, compilerOptions: { allowJs: true } });
  const options: import('ts-morph').ts.CompilerOptions = {
    allowJs: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    // Package files import the running tsdsl by name, whether or not it is installed beside them.
    paths: { 'tsdsl/packages': [join(ROOT, 'packages', 'index.ts')], tsdsl: [join(ROOT, 'src', 'index.ts')] },
  };
  const host = ts.sys;
  const roots = definingFiles(packages);
  edgeMap = new Map();
  const queue = [...roots];
  while (queue.length) {
    const file = queue.shift()!;
    if (edgeMap.has(file)) continue;
    const targets: string[] = [];
    edgeMap.set(file, targets);
    const sf = project.addSourceFileAtPath(file);
    const specifiers = [
      ...sf.getImportDeclarations().map((d) => d.getModuleSpecifierValue()),
      ...sf.getExportDeclarations().map((d) => d.getModuleSpecifierValue()).filter((s): s is string => s !== undefined),
    ];
    for (const spec of specifiers) {
      const resolved = ts.resolveModuleName(spec, file, options, host).resolvedModule?.resolvedFileName;
      if (!resolved || !inCollection(resolved) || targets.includes(resolved)) continue;
      targets.push(resolved);
      queue.push(resolved);
    }
  }
  return roots;
}

export const moduleType: NodeType<GraphNode> = {
  name: 'module',
  description: 'the package files defining the packages and their dependencies, and their imports',
  async roots(packages: readonly Package[]) {
    return (await importGraph(packages)).map(node);
  },
  edges: (n) => (edgeMap.get((n as ModuleNode).file) ?? []).map(node),
  label: (n) => (n as ModuleNode).label,
  kind: () => 'module',
};
