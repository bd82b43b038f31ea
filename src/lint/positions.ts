/**
 * Where in a package file a finding belongs. A package records the file:line:column of its
 * definition (src/dsl/location.ts); this module parses that file with ts-morph (once per file)
 * and finds the definition's object literal, so a finding about `synopsis` points at the
 * `synopsis:` property rather than at the top of the definition. Loaded by `tsdsl lint` only.
 */
import { readFileSync } from 'node:fs';
import { Node, SyntaxKind, type CallExpression, type ObjectLiteralExpression, type SourceFile } from 'ts-morph';
import type { Location } from '../dsl/location.js';
import { definitionObject, parseFile } from '../edit/style.js';

/** A 1-based position in a file. */
export interface Position {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** Parsed package files and the definitions found in them, cached for one lint run. */
export class SourceIndex {
  private readonly files = new Map<string, SourceFile | null>();
  private readonly definitions = new Map<string, ObjectLiteralExpression | null>();

  /** The parsed file, or null when it cannot be read or parsed (lint then uses the bare location). */
  file(path: string): SourceFile | null {
    let sf = this.files.get(path);
    if (sf !== undefined) return sf;
    try {
      sf = parseFile(path, readFileSync(path, 'utf8'));
    } catch {
      sf = null;
    }
    this.files.set(path, sf);
    return sf;
  }

  /** The object literal of the definition at `loc` (the call on that line, nearest the column). */
  definition(loc: Location | undefined): ObjectLiteralExpression | undefined {
    if (!loc) return undefined;
    const key = `${loc.file}:${loc.line}:${loc.column}`;
    const hit = this.definitions.get(key);
    if (hit !== undefined) return hit ?? undefined;
    const sf = this.file(loc.file);
    const found = sf ? findDefinition(sf, loc.line, loc.column) : undefined;
    this.definitions.set(key, found ?? null);
    return found;
  }

  /**
   * The text of the property at `path` (e.g. ['source', 'sha256']) when it is written as a string
   * literal; undefined when it is missing or an expression (`'a'.repeat(64)`, a constant).
   */
  literal(loc: Location | undefined, path: readonly string[]): string | undefined {
    const obj = this.definition(loc);
    const node = obj ? propertyAt(obj, path) : undefined;
    if (!node || !Node.isPropertyAssignment(node) || node.getName() !== path[path.length - 1]) return undefined;
    const value = node.getInitializer();
    return value && (Node.isStringLiteral(value) || Node.isNoSubstitutionTemplateLiteral(value)) ? value.getLiteralValue() : undefined;
  }

  /** The comments just above the property at `path` and after it on its line (`// TODO(license): …`), as written. */
  comments(loc: Location | undefined, path: readonly string[]): string[] {
    const obj = this.definition(loc);
    const node = obj ? propertyAt(obj, path) : undefined;
    if (!node || !Node.isPropertyAssignment(node) || node.getName() !== path[path.length - 1]) return [];
    return [...node.getLeadingCommentRanges(), ...node.getTrailingCommentRanges()].map((c) => c.getText());
  }

  /** Position of the property at `path` (e.g. ['source', 'sha256']) in the definition, or the definition itself. */
  position(loc: Location | undefined, path: readonly string[] = []): Position | undefined {
    if (!loc) return undefined;
    const obj = this.definition(loc);
    const node = obj ? propertyAt(obj, path) : undefined;
    if (!node) return { file: loc.file, line: loc.line, column: loc.column };
    const { line, column } = node.getSourceFile().getLineAndColumnAtPos(node.getStart());
    return { file: loc.file, line, column };
  }
}

/**
 * The definition call at line:column. Stack frames give the column of the callee in the file
 * that ran, which for compiled files can differ from the source's, so any definition call
 * starting on that line will do, the nearest to the column first.
 */
function findDefinition(sf: SourceFile, line: number, column: number): ObjectLiteralExpression | undefined {
  const lines = sf.compilerNode.getLineStarts();
  if (line < 1 || line > lines.length) return undefined;
  const lineStart = lines[line - 1]!;
  const pos = Math.min(lineStart + column - 1, sf.getEnd());
  for (let n: Node | undefined = sf.getDescendantAtPos(pos); n; n = n.getParent()) {
    if (Node.isCallExpression(n)) {
      const o = definitionObject(n);
      if (o) return o;
    }
  }
  const stmt = sf.getStatements().find((s) => s.getStart() <= pos && pos <= s.getEnd()) ?? sf.getStatements().find((s) => s.getStartLineNumber() === line);
  if (!stmt) return undefined;
  const calls: CallExpression[] = Node.isCallExpression(stmt) ? [stmt] : [];
  calls.push(...stmt.getDescendantsOfKind(SyntaxKind.CallExpression));
  const onLine = calls.filter((c) => sf.getLineAndColumnAtPos(c.getStart()).line === line && definitionObject(c));
  onLine.sort((a, b) => Math.abs(a.getStart() - pos) - Math.abs(b.getStart() - pos));
  return onLine[0] ? definitionObject(onLine[0]) : undefined;
}

/** The property node at `path`, following `url({…})`-style calls into their object argument. */
export function propertyAt(obj: ObjectLiteralExpression, path: readonly string[]): Node | undefined {
  let current: ObjectLiteralExpression | undefined = obj;
  let node: Node | undefined;
  for (const key of path) {
    if (!current) return node;
    const prop: Node | undefined = current.getProperty(key);
    if (!prop) return node;
    node = prop;
    current = undefined;
    if (Node.isPropertyAssignment(prop)) {
      const init = prop.getInitializer();
      if (init && Node.isObjectLiteralExpression(init)) current = init;
      else if (init && Node.isCallExpression(init)) {
        const arg: Node | undefined = init.getArguments().find((a) => Node.isObjectLiteralExpression(a));
        if (arg && Node.isObjectLiteralExpression(arg)) current = arg;
      }
    }
  }
  return node;
}
