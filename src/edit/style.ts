/**
 * `tsdsl style`: the canonical form of package definitions, as Guix's `guix style` gives for
 * Scheme. A definition is the object literal passed to `definePackage(…)`, `inherit(p, …)` or
 * `p.with(…)`. Its fields are put in one order (name and version first, metadata last) and its
 * input lists sorted by package; everything else — comments, blank lines, indentation, the
 * text of each field — is kept byte for byte, so a file already in canonical form is untouched
 * and running the style twice changes nothing. The rewrite works on ts-morph's syntax tree and
 * replaces text spans, never prints the tree, which is what keeps the layout. `tsdsl lint`'s
 * formatting checker uses the same edits in check mode.
 */
import { readFileSync } from 'node:fs';
import { Node, Project, SyntaxKind, ts, type ArrayLiteralExpression, type CallExpression, type ObjectLiteralExpression, type SourceFile } from 'ts-morph';
import { TsdslError } from '../errors.js';
import { compareNames } from '../compare.js';

/** Field order of a package definition: identity, source and build, then metadata. */
export const FIELD_ORDER: readonly string[] = [
  'name', 'version', 'source', 'buildSystem', 'outputs', 'variants',
  'inputs', 'propagatedInputs', 'nativeInputs', 'arguments',
  'synopsis', 'description', 'homePage', 'license', 'properties', 'replacement',
];

/** Fields holding lists of packages, sorted by `style`. */
export const INPUT_FIELDS: readonly string[] = ['inputs', 'nativeInputs', 'propagatedInputs'];

/** One difference from the canonical form: a text replacement and why. */
export interface StyleEdit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** Where the problem is (for lint): the position of the first misplaced node. */
  readonly pos: number;
  readonly message: string;
  /** It reorders an input list, which changes the package's derivation (inputs are searched in order). */
  readonly reordersInputs?: boolean;
}

/** Calls that define a package, with the argument holding the definition. */
export function definitionObject(call: CallExpression): ObjectLiteralExpression | undefined {
  const callee = call.getExpression();
  const name = Node.isIdentifier(callee) ? callee.getText() : Node.isPropertyAccessExpression(callee) ? callee.getName() : '';
  const args = call.getArguments();
  const arg = name === 'definePackage' ? args[0] : name === 'inherit' ? args[1] : name === 'with' ? args[0] : undefined;
  return arg && Node.isObjectLiteralExpression(arg) ? arg : undefined;
}

/** Every package definition object in a file, outermost first. */
export function definitionObjects(sf: SourceFile): ObjectLiteralExpression[] {
  const out: ObjectLiteralExpression[] = [];
  sf.forEachDescendant((n) => {
    if (Node.isCallExpression(n)) {
      const o = definitionObject(n);
      if (o) out.push(o);
    }
  });
  return out;
}

/** The sort key of an input: the package variable, looking through `withVariants(x, …)`-style calls. */
function inputKey(n: Node): string {
  if (Node.isCallExpression(n)) {
    const first = n.getArguments()[0];
    return first ? inputKey(first) : n.getText();
  }
  return n.getText();
}

/** True when `n` holds a comment outside string literals. */
function hasComments(n: Node): boolean {
  const inner = n.getSourceFile().getFullText().slice(n.getStart(), n.getEnd());
  return inner.includes('//') || inner.includes('/*') ? commentLines(n).size > 0 : false;
}

/** The lines (as ts-morph numbers them) on which a comment inside `n` starts or ends. */
function commentLines(n: Node): Set<number> {
  const sf = n.getSourceFile();
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, false, ts.LanguageVariant.Standard, sf.getFullText(), undefined, n.getStart(), n.getEnd() - n.getStart());
  const lines = new Set<number>();
  for (let k = scanner.scan(); k !== ts.SyntaxKind.EndOfFileToken; k = scanner.scan()) {
    if (k === ts.SyntaxKind.SingleLineCommentTrivia || k === ts.SyntaxKind.MultiLineCommentTrivia) {
      lines.add(sf.getLineAndColumnAtPos(scanner.getTokenPos()).line).add(sf.getLineAndColumnAtPos(scanner.getTextPos()).line);
    }
  }
  return lines;
}

/** A list we may sort: plain package expressions, no spreads, no holes, no comments. */
function sortableElements(a: ArrayLiteralExpression): Node[] | undefined {
  const els = a.getElements();
  if (els.length < 2) return undefined;
  for (const e of els) {
    if (!(Node.isIdentifier(e) || Node.isPropertyAccessExpression(e) || Node.isCallExpression(e))) return undefined;
  }
  if (hasComments(a)) return undefined;
  return els;
}

/** Edits sorting the input lists of one definition (arrays directly in the field or returned by its function). */
function inputEdits(obj: ObjectLiteralExpression): StyleEdit[] {
  const edits: StyleEdit[] = [];
  for (const field of INPUT_FIELDS) {
    const prop = obj.getProperty(field);
    if (!prop || !Node.isPropertyAssignment(prop)) continue;
    const init = prop.getInitializer();
    if (!init) continue;
    const arrays = Node.isArrayLiteralExpression(init) ? [init] : init.getDescendantsOfKind(SyntaxKind.ArrayLiteralExpression);
    for (const a of arrays) {
      const els = sortableElements(a);
      if (!els) continue;
      const sorted = [...els].sort((x, y) => compareNames(inputKey(x), inputKey(y)));
      if (sorted.every((e, i) => e === els[i])) continue;
      const text = a.getSourceFile().getFullText();
      let out = '';
      let last = a.getStart();
      els.forEach((e, i) => {
        out += text.slice(last, e.getStart()) + sorted[i]!.getText();
        last = e.getEnd();
      });
      out += text.slice(last, a.getEnd());
      const firstWrong = els.findIndex((e, i) => e !== sorted[i]);
      edits.push({
        start: a.getStart(),
        end: a.getEnd(),
        text: out,
        pos: els[firstWrong]!.getStart(),
        message: `${field} are not sorted: \`${inputKey(sorted[firstWrong]!)}\` should come before \`${inputKey(els[firstWrong]!)}\``,
        reordersInputs: true,
      });
    }
  }
  return edits;
}

function rank(name: string): number {
  const i = FIELD_ORDER.indexOf(name);
  return i < 0 ? FIELD_ORDER.length : i;
}

function propName(p: Node): string | undefined {
  if (Node.isPropertyAssignment(p) || Node.isShorthandPropertyAssignment(p) || Node.isMethodDeclaration(p)) return p.getName().replace(/^['"]|['"]$/g, '');
  return undefined;
}

/**
 * The edit putting the fields of one definition in canonical order, or undefined. Each field
 * moves with the comment lines above it and the comment after it on its own line; commas,
 * blank lines and indentation stay where they were.
 */
function orderEdit(obj: ObjectLiteralExpression, sub: (start: number, end: number) => string): StyleEdit | undefined {
  const props = obj.getProperties();
  if (props.length < 2) return undefined;
  const names = props.map(propName);
  // A spread makes the order meaningful (later fields win); leave such objects alone.
  if (names.some((n) => n === undefined)) return undefined;
  const order = props.map((_, i) => i).sort((a, b) => rank(names[a]!) - rank(names[b]!) || a - b);
  if (order.every((v, i) => v === i)) return undefined;

  const sf = obj.getSourceFile();
  const text = sf.getFullText();
  const lineOf = (pos: number) => sf.getLineAndColumnAtPos(pos).line;
  const firstWrong = order.findIndex((v, i) => v !== i);
  const should = names[order[firstWrong]!]!;
  const problem = {
    start: obj.getStart(),
    end: obj.getEnd(),
    pos: props[order[firstWrong]!]!.getStart(),
    message: `fields are not in canonical order: \`${should}\` should come before \`${names[firstWrong]!}\` (order: ${FIELD_ORDER.join(', ')})`,
  };
  // In a definition written over several lines, fields sharing a line are first put on lines
  // of their own (the next pass orders them), so that each field keeps a line and its comment:
  // reordered in place, a line's fields would be others (`inputs` taking `synopsis`'s place
  // beside `description`), and a comment would end up before a field moved behind it on that
  // line (`name: 'a', // note version: '1'`). A definition on one line is reordered in place.
  const shared = props.map((_, i) => i).filter((i) => i > 0 && lineOf(props[i]!.getStart()) === lineOf(props[i - 1]!.getEnd()));
  const oneLine = lineOf(obj.getStart()) === lineOf(obj.getEnd());
  const commented = shared.length ? commentLines(obj) : new Set<number>();
  const split = oneLine ? shared.filter((i) => commented.has(lineOf(props[i]!.getStart()))) : shared;
  // The indentation of the definition's own line.
  const outer = /^[ \t]*/.exec(text.slice(text.lastIndexOf('\n', obj.getStart() - 1) + 1))![0];
  if (split.length) {
    const firstLine = text.slice(text.lastIndexOf('\n', props[0]!.getStart() - 1) + 1, props[0]!.getStart());
    const indent = /^[ \t]*$/.test(firstLine) ? firstLine : `${outer}  `;
    let out = '';
    let last = obj.getStart();
    // `{ name: …, // note` on one line: the fields start on the next one (and `}` gets a line
    // of its own when it ends a commented line too).
    if (lineOf(props[0]!.getStart()) === lineOf(obj.getStart()) && commented.has(lineOf(obj.getStart()))) {
      out = `{\n${indent}`;
      last = props[0]!.getStart();
    }
    for (const i of split) {
      const prevEnd = props[i - 1]!.getEnd();
      const comma = /^[ \t]*,/.exec(text.slice(prevEnd))?.[0] ?? '';
      out += text.slice(last, prevEnd + comma.length) + `\n${indent}`;
      // Whatever stood between the two fields (a /* comment */) stays before the second one.
      last = prevEnd + comma.length;
      while (text[last] === ' ' || text[last] === '\t') last++;
    }
    const end = props[props.length - 1]!.getEnd();
    if (lineOf(end) === lineOf(obj.getEnd()) && commented.has(lineOf(end))) {
      // What stood before `}` (a /* comment */) stays after the last field.
      const tail = text.slice(end, obj.getEnd() - 1).replace(/^[ \t]*,/, '').trimEnd();
      return { ...problem, text: `${out}${text.slice(last, end)},${tail}\n${outer}}` };
    }
    return { ...problem, text: out + text.slice(last, obj.getEnd()) };
  }
  // Each slot: [start, end) is the field with its own-line leading comments; trail is a comment
  // on the field's last line after the comma; sepStart..next slot is the separator kept in place.
  const slots = props.map((p, i) => {
    const prevEnd = i === 0 ? obj.getStart() + 1 : props[i - 1]!.getEnd();
    let start = p.getStart();
    for (const c of ts.getLeadingCommentRanges(text, p.getFullStart()) ?? []) {
      if (c.pos >= prevEnd && lineOf(c.pos) > lineOf(prevEnd)) {
        start = c.pos;
        break;
      }
    }
    return { start, end: p.getEnd() };
  });
  const pieces = slots.map((s, i) => {
    const next = i + 1 < slots.length ? slots[i + 1]!.start : obj.getEnd() - 1;
    let sep = text.slice(s.end, next);
    let trail = '';
    // `field: x, // note` — the note belongs to the field.
    const m = /^([ \t]*,?)([ \t]*)(\/\/[^\n]*|\/\*[^\n]*?\*\/)(?=[ \t]*(?:\n|$))/.exec(sep);
    if (m) {
      const comma = m[1]!.includes(',') ? m[1]! : '';
      trail = (comma ? '' : m[1]!) + m[2]! + m[3]!;
      sep = comma + sep.slice(m[0].length);
    }
    return { body: sub(s.start, s.end), trail, sep };
  });
  let out = text.slice(obj.getStart(), slots[0]!.start);
  order.forEach((from, i) => {
    const p = pieces[i]!;
    const moved = pieces[from]!;
    // Keep the slot's comma, put the moved field's trailing comment after it.
    const comma = /^\s*,/.exec(p.sep)?.[0] ?? '';
    let rest = p.sep.slice(comma.length);
    // A line comment moved into a slot with more after it on its line (the last field, before
    // `}`) would swallow the rest: the line ends after it.
    if (moved.trail.startsWith('//', moved.trail.search(/\S/)) && !/^[ \t]*\n/.test(rest)) rest = `\n${i + 1 < pieces.length ? `${outer}  ` : outer}${rest.trimStart()}`;
    out += moved.body + comma + moved.trail + rest;
  });
  out += text.slice(obj.getEnd() - 1, obj.getEnd());
  return { ...problem, text: out };
}

/**
 * The differences of one definition from the canonical form, each as an edit of the file's
 * text. Input sorting and field order are combined into one edit when both apply.
 */
export function styleDefinition(obj: ObjectLiteralExpression): StyleEdit[] {
  const text = obj.getSourceFile().getFullText();
  const inner = inputEdits(obj);
  const sub = (start: number, end: number) => {
    let s = '';
    let last = start;
    for (const e of inner) {
      if (e.start < start || e.end > end) continue;
      s += text.slice(last, e.start) + e.text;
      last = e.end;
    }
    return s + text.slice(last, end);
  };
  const order = orderEdit(obj, sub);
  if (!order) return inner;
  return [
    {
      ...order,
      message: [order.message, ...inner.map((e) => e.message)].join('; '),
      pos: Math.min(order.pos, ...inner.map((e) => e.pos)),
      ...(inner.length ? { reordersInputs: true } : {}),
    },
  ];
}

/** Apply non-overlapping edits (outermost wins; inner ones are redone on the next pass). */
function applyEdits(text: string, edits: readonly StyleEdit[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: StyleEdit[] = [];
  for (const e of sorted) if (!kept.length || e.start >= kept[kept.length - 1]!.end) kept.push(e);
  let out = '';
  let last = 0;
  for (const e of kept) {
    out += text.slice(last, e.start) + e.text;
    last = e.end;
  }
  return out + text.slice(last);
}

let project: Project | undefined;

/** A ts-morph project for parsing single files (no type checking, no file system lookups). */
export function parsingProject(): Project {
  return (project ??= new Project({ useInMemoryFileSystem: true, skipFileDependencyResolution: true, compilerOptions: { allowJs: true } }));
}

/** Parse `text` as `file`, failing with file:line on syntax errors. */
export function parseFile(file: string, text: string): SourceFile {
  const p = parsingProject();
  const name = file.startsWith('/') ? file : `/${file}`;
  const sf = p.createSourceFile(name, text, { overwrite: true });
  const diags = (sf.compilerNode as unknown as { parseDiagnostics?: ts.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
  if (diags.length) {
    const d = diags[0]!;
    const { line, character } = ts.getLineAndCharacterOfPosition(sf.compilerNode, d.start);
    throw new TsdslError(`${file}:${line + 1}:${character + 1}: syntax error: ${ts.flattenDiagnosticMessageText(d.messageText, ' ').replace(/\.$/, '')}; fix it before running style (the file was not changed)`);
  }
  return sf;
}

/** The canonical form of a file's text; running it on its own output returns the same text. */
export function styleText(file: string, text: string): { text: string; edits: Array<StyleEdit & { line: number; column: number }> } {
  // A file with CRLF line ends is styled with LF ones and given back with CRLF throughout
  // (the edits' new lines would otherwise be LF among CRLF).
  const crlf = text.includes('\r\n');
  // A byte-order mark is kept, outside the text styled: ts-morph's positions do not count it.
  const bom = text.startsWith('\uFEFF') ? '\uFEFF' : '';
  let current = (crlf ? text.replace(/\r\n/g, '\n') : text).slice(bom.length);
  const report: Array<StyleEdit & { line: number; column: number }> = [];
  let fieldsBefore: string | undefined;
  for (let pass = 0; pass < 10; pass++) {
    const sf = parseFile(file, current);
    const objects = definitionObjects(sf);
    fieldsBefore ??= fieldsOf(objects);
    const edits = objects.flatMap(styleDefinition);
    if (!edits.length) break;
    if (pass === 0) for (const e of edits) report.push({ ...e, ...sf.getLineAndColumnAtPos(e.pos) });
    current = applyEdits(current, edits);
  }
  if (!report.length) return { text, edits: report };
  report.sort((a, b) => a.line - b.line || a.column - b.column);
  // Styling moves fields and comments, never adds or drops one: checked on the result, which is
  // refused (the file left as it is) rather than written with a field lost in a comment.
  const after = fieldsOf(definitionObjects(parseFile(file, current)));
  if (after !== fieldsBefore) {
    throw new TsdslError(`${file}: style would change the fields of a definition (${fieldsBefore} became ${after}), so the file was not changed; this is a bug in tsdsl style: please report it with the file`);
  }
  return { text: bom + (crlf ? current.replace(/\n/g, '\r\n') : current), edits: report };
}

/** Each definition's field names, sorted: what styling must keep. */
function fieldsOf(objects: readonly ObjectLiteralExpression[]): string {
  return objects.map((o) => `{${o.getProperties().map((p) => propName(p) ?? p.getText()).sort().join(', ')}}`).join(' ');
}

/** Read and style a file (nothing written). */
export function styleFile(file: string): { original: string; text: string; edits: Array<StyleEdit & { line: number; column: number }> } {
  let original: string;
  try {
    original = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TsdslError(
      `cannot read \`${file}\`: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory; give the package files in it (e.g. `tsdsl style DIR/*.ts`)' : (e as Error).message}`,
    );
  }
  return { original, ...styleText(file, original) };
}
