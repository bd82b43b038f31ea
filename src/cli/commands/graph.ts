/** `tsdsl graph`: the dependency graph of packages, in any node type and backend. */
import { TsdslError, isTsdslError } from '../../errors.js';
import { escapeRegExp } from '../../regexp.js';
import { buildGraph, findNodeType } from '../../graph/build.js';
import { backends, findBackend } from '../../graph/backends/index.js';
import { nodeTypes } from '../../graph/node-types.js';
import { shortestPath } from '../../graph/path.js';
import { isPackage } from '../../dsl/package.js';
import { joinVariantWords, parseSpec } from '../../registry/spec.js';
import { versionMatches } from '../../registry/version.js';
import type { Command } from '../command.js';
import { out } from '../command.js';
import { packageOptions, packagesFrom } from '../packages.js';
import { refuseWith } from '../options.js';

export const command: Command = {
  name: 'graph',
  summary: 'draw the dependency graph of packages',
  usage: 'tsdsl graph [OPTION]... PACKAGE...',
  details:
    'Prints the graph of PACKAGE and everything it depends on, as DOT by default. With --path, prints the\n' +
    'shortest dependency path from FROM to TO instead (`tsdsl graph --path FROM TO`), one package a line.',
  examples: [
    ['tsdsl graph mumps | dot -Tsvg > mumps.svg', 'draw mumps and its dependencies'],
    ['tsdsl graph mumps --type=bag', 'include the build systems\' implicit inputs (toolchain, make, …)'],
    ['tsdsl graph --type=reverse-package scotch', 'everything that depends on scotch'],
    ['tsdsl graph --path mumps zlib', 'why does mumps depend on zlib?'],
    ['tsdsl graph mumps --max-depth=1 --backend=mermaid', 'direct dependencies, as a Mermaid chart'],
    ['tsdsl graph mumps --with-input=scotch=pt-scotch --backend=d3 > mumps.html', 'an interactive page of a transformed graph'],
  ],
  options: [
    { name: 'type', short: 't', kind: 'string', arg: 'TYPE', description: 'node type: package (default), bag, reverse-package, … (--list-types)' },
    { name: 'backend', short: 'b', kind: 'string', arg: 'BACKEND', description: 'output format: graphviz (default), json, mermaid, … (--list-backends)' },
    { name: 'list-types', kind: 'boolean', description: 'list the node types and exit' },
    { name: 'list-backends', kind: 'boolean', description: 'list the backends and exit' },
    { name: 'path', kind: 'boolean', description: 'print the shortest path from FROM to TO, the two packages given' },
    { name: 'max-depth', short: 'M', kind: 'number', arg: 'N', description: 'only nodes at most N edges from the roots' },
    ...packageOptions,
  ],
  async run(args) {
    if (args.values['list-types']) {
      const w = Math.max(...nodeTypes.map((t) => t.name.length));
      out(['Available node types:', ...nodeTypes.map((t) => `  ${t.name.padEnd(w)}  ${t.description}`), ''].join('\n'));
      return 0;
    }
    if (args.values['list-backends']) {
      const w = Math.max(...backends.map((b) => b.name.length));
      out(['Available backends:', ...backends.map((b) => `  ${b.name.padEnd(w)}  ${b.description}`), ''].join('\n'));
      return 0;
    }
    const type = findNodeType((args.values['type'] as string | undefined) ?? 'package');
    if (type.name.startsWith('reverse-')) {
      // Dependents are found in the collection, where nothing depends on a transformed copy.
      const { findTransformation } = await import('../../transform/options.js');
      const t = args.ordered.find((o) => findTransformation(o.name));
      if (t) throw new TsdslError(`tsdsl graph: --type=${type.name} finds who depends on a package in the collection, and nothing there depends on the copy --${t.name} would make; drop --${t.name}, or draw the forward graph of a dependent (tsdsl graph DEPENDENT --${t.name}=…)`);
    }
    const backend = findBackend((args.values['backend'] as string | undefined) ?? 'graphviz');
    const maxDepth = args.values['max-depth'] as number | undefined;
    if (maxDepth !== undefined && maxDepth < 0) throw new TsdslError('tsdsl graph: --max-depth must be 0 or more');
    if (args.positionals.length === 0) throw new TsdslError('tsdsl graph: no package given; try `tsdsl graph mumps` (see --help)');

    if (args.values['path']) {
      // `tsdsl graph --path A B`, and also `tsdsl graph A --path A B`: the last two are FROM and TO.
      const specs = joinVariantWords(args.positionals);
      if (specs.length < 2) throw new TsdslError('tsdsl graph --path needs two packages, FROM and TO (e.g. tsdsl graph --path mumps zlib)');
      // Three only as `tsdsl graph A --path A B`; any other extra package would be dropped unsaid.
      if (specs.length > 3 || (specs.length === 3 && specs[0] !== specs[1])) {
        throw new TsdslError(`tsdsl graph --path takes two packages, FROM and TO, not ${specs.length} (${specs.join(' ')}); one command a pair: ${specs.slice(1).map((to, i) => `tsdsl graph --path ${specs[i]} ${to}`).join(', ')}`);
      }
      const [fromSpec, toSpec] = specs.slice(-2) as [string, string];
      refuseWith(args, ['max-depth', 'backend'], 'tsdsl graph: --path prints one node a line, so');
      // TO is looked up in the collection afterwards: every package file, not those naming FROM.
      const { packages, collection } = await packagesFrom(args, [fromSpec], undefined, { whole: true });
      const roots = await type.roots(packages, { collection });
      let matches: (n: unknown) => boolean;
      let label = toSpec;
      let byPackage = false;
      if (toSpec.startsWith('/') || /\.[mc]?[jt]s$/.test(toSpec)) {
        // A node named as it is printed: a .drv or store path, a module file (or its end).
        matches = (n) => {
          const l = type.label(n as never);
          return l === toSpec || l.endsWith(`/${toSpec}`);
        };
      } else {
        const target = parseSpec(toSpec);
        collection.resolve({ ...target, variants: {} }); // fails with suggestions when the name is unknown
        label = target.text;
        byPackage = true;
        const versionOk = (v: string) => target.version === undefined || versionMatches(target.version, v);
        // Packages by name and version; other nodes (derivations, store items) by their store name.
        const storeName = new RegExp(`^/.*/[0-9a-z]{32}-${escapeRegExp(target.name)}-(\\d[^/]*?)(?:\\.drv)?$`);
        matches = (n) => {
          if (isPackage(n)) return n.name === target.name && versionOk(n.version);
          const m = storeName.exec(type.label(n as never));
          return m !== null && versionOk(m[1]!);
        };
      }
      let path;
      try {
        path = shortestPath(type, roots[0]!, matches, { collection }, label);
      } catch (e) {
        // FROM and TO the other way round? Said when TO depends on FROM (in a forward graph, and
        // without transformations, whose warnings a second load would print again).
        if (!isTsdslError(e) || !byPackage || type.name.startsWith('reverse')) throw e;
        const { findTransformation } = await import('../../transform/options.js');
        if (args.ordered.some((o) => findTransformation(o.name))) throw e;
        // In the collection loaded already: loading it again said its warnings twice.
        const back = (await type.roots([collection.resolve(toSpec)], { collection }))[0]!;
        const fromLabel = type.label(roots[0]!);
        try {
          shortestPath(type, back, (n) => type.label(n) === fromLabel, { collection });
        } catch {
          throw e;
        }
        throw new TsdslError(`no path from \`${fromLabel}\` to \`${label}\` in the ${type.name} graph: it is \`${toSpec}\` that depends on \`${fromSpec}\` (swap them: --path ${toSpec} ${fromSpec})`);
      }
      out(path.map((n) => type.label(n)).join('\n') + '\n');
      return 0;
    }

    // A reverse graph searches the whole collection for dependents.
    const { packages, collection } = await packagesFrom(args, args.positionals, undefined, { whole: type.needsCollection === true });
    const { graph } = await buildGraph(type, packages, { ctx: { collection }, ...(maxDepth !== undefined ? { maxDepth } : {}) });
    out(backend.render(graph, { typeName: type.name }));
    return 0;
  },
};
