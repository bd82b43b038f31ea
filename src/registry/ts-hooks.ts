/**
 * Node module hooks (registered by load.ts with `module.register`) that let users write package
 * files in TypeScript and load them at run time. They (1) resolve the bare specifiers `tsdsl`
 * and `tsdsl/packages` to the running tsdsl, so a user's file shares our DSL and collection
 * objects even with no node_modules beside it, (2) let relative imports omit `.ts` or name
 * `.js` for a `.ts` file, and (3) strip types with sucrase, which keeps line numbers, so a
 * location or stack frame in a user file points at the right line without source maps.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface HookData {
  aliases: Record<string, string>;
}

let aliases: Record<string, string> = {};
let sucrase: Promise<typeof import('sucrase')> | undefined;

/** Sucrase, imported once; started as the hooks start, since it takes a fifth of a second here. */
function stripper(): Promise<typeof import('sucrase')> {
  return (sucrase ??= import('sucrase'));
}

export function initialize(data: HookData): void {
  aliases = data.aliases;
  // While the main thread goes on to its first import.
  stripper().catch(() => {});
}

type Resolve = (specifier: string, context: { parentURL?: string }) => Promise<{ url: string; format?: string | null; shortCircuit?: boolean }>;
type Load = (url: string, context: { format?: string | null }) => Promise<{ format: string; source?: string | ArrayBuffer | Uint8Array | null; shortCircuit?: boolean }>;

const TS = /\.(ts|mts)$/;

/**
 * What a relative import of a TypeScript file may name when `path` itself is not a file: the
 * `.ts` file of a `.js` specifier, the extension left out, or a directory's `index.ts`.
 */
export function moduleCandidates(path: string): string[] {
  return [path.replace(/\.js$/, '.ts'), `${path}.ts`, `${path}/index.ts`];
}

export async function resolve(specifier: string, context: { parentURL?: string }, next: Resolve) {
  const alias = aliases[specifier];
  if (alias) return { url: alias, shortCircuit: true };
  // Another module of tsdsl (`tsdsl/package`): Node would say it cannot find tsdsl at all.
  if (specifier.startsWith('tsdsl/') && context.parentURL?.startsWith('file:')) {
    const known = Object.keys(aliases).filter((a) => !a.endsWith('.json')).map((a) => `'${a}'`).join(' and ');
    throw new Error(`No module '${specifier}' in tsdsl (its modules are ${known}) imported from ${fileURLToPath(context.parentURL)}`);
  }
  if (context.parentURL && TS.test(context.parentURL) && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const base = new URL(specifier, context.parentURL);
    // Without a trailing slash (`./lib/`): one module, one URL (lib//index.ts would load it again).
    const path = fileURLToPath(base).replace(/(.)\/+$/, '$1');
    // Not there, or a directory (`./lib` for `./lib/index.ts`; Node's own resolver refuses those).
    if (!existsSync(path) || statSync(path).isDirectory()) {
      for (const candidate of moduleCandidates(path)) {
        if (candidate !== path && existsSync(candidate)) return { url: new URL(`file://${candidate}`).href, shortCircuit: true };
      }
    }
  }
  return next(specifier, context);
}

export async function load(url: string, context: { format?: string | null }, next: Load) {
  if (url.startsWith('file:') && TS.test(url)) {
    const file = fileURLToPath(url);
    const source = readFileSync(file, 'utf8');
    // Sucrase drops a namespace that holds values (it is code, not a type): its name would be
    // undefined at run time. A cheap look first; the TypeScript parser only when it may be one.
    if (/^[ \t]*(?:export[ \t]+)?(?:namespace|module)[ \t]+[A-Za-z_$]/m.test(source)) {
      const ns = await valueNamespace(file, source);
      if (ns) {
        throw new SyntaxError(`${file}:${ns.line}: TypeScript namespaces that hold values (\`namespace ${ns.name}\`) are not supported in package files: their types are stripped, not compiled, and such a namespace is code; use an object (\`export const ${ns.name.split('.')[0]} = { … }\`) or a module of its own`);
      }
    }
    const { transform } = await stripper();
    try {
      const code = transform(source, { transforms: ['typescript'], filePath: file, disableESTransforms: true }).code;
      return { format: 'module', source: code, shortCircuit: true };
    } catch (e) {
      const err = e as Error & { loc?: { line: number; column: number } };
      const pos = /\((\d+):(\d+)\)/.exec(err.message);
      // Sucrase's columns count from 1 already (`foo bar;` points at column 5, `bar`).
      const where = err.loc ? `${err.loc.line}:${err.loc.column}` : pos ? `${pos[1]}:${pos[2]}` : '1';
      const message = err.message.replace(/\s*\(\d+:\d+\)$/, '').replace(/^Error transforming \S+: /, '');
      throw new SyntaxError(`${file}:${where}: ${message}`);
    }
  }
  return next(url, context);
}

/** The first namespace of `source` that holds values (not `declare`d, not types alone), with its line. */
async function valueNamespace(file: string, source: string): Promise<{ name: string; line: number } | undefined> {
  const { ts } = await import('ts-morph');
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  let found: { name: string; line: number } | undefined;
  type Node = import('ts-morph').ts.Node;
  const ambient = (n: Node) => (ts.getCombinedModifierFlags(n as import('ts-morph').ts.Declaration) & ts.ModifierFlags.Ambient) !== 0;
  // Types alone (interfaces, type aliases, namespaces of those, anything `declare`d) are stripped whole.
  const holdsValues = (n: import('ts-morph').ts.ModuleDeclaration): boolean => {
    const body = n.body;
    if (!body) return false;
    if (ts.isModuleDeclaration(body)) return holdsValues(body);
    if (!ts.isModuleBlock(body)) return false;
    return body.statements.some((st) => !(ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) || ambient(st) || (ts.isModuleDeclaration(st) && !holdsValues(st))));
  };
  const visit = (n: Node): void => {
    if (found) return;
    if (ts.isModuleDeclaration(n) && ts.isIdentifier(n.name) && !ambient(n) && holdsValues(n)) {
      found = { name: n.name.text, line: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1 };
      return;
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}
