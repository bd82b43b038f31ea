/**
 * Rewriting package files while keeping their comments and layout (ts-morph): find the
 * `definePackage`/`inherit` call a package came from (packages carry their `location`), replace
 * string fields (version, sha256, URLs, `properties.debianVersion`), or insert a new definition
 * in alphabetical order. Every edit is type-checked before anything is written: an edit that
 * adds a TypeScript error is refused with the error's file:line and the file is left as it was;
 * the file is then replaced in one rename. Used by `tsdsl refresh -u` and `tsdsl import
 * --insert`; ts-morph is loaded only here, on demand, so other commands never pay for it.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TsMorph from 'ts-morph';
import { TsdslError } from '../errors.js';
import { sourceFileOf, type Location } from '../dsl/location.js';
import { compareNames } from '../compare.js';

type Morph = typeof TsMorph;

let morph: Promise<Morph> | undefined;

/** ts-morph, imported the first time an edit needs it. */
export function loadTsMorph(): Promise<Morph> {
  morph ??= import('ts-morph');
  return morph;
}

/**
 * A note for each of `files` that belongs to the default collection, which commands load compiled
 * from `dist/`: an edit there is seen after a rebuild. None for user package files (loaded as TypeScript).
 */
export function rebuildNotes(files: Iterable<string>): string[] {
  const packages = join(tsdslRoot(), 'packages') + '/';
  const where = display(tsdslRoot());
  return [...files]
    .filter((file) => resolve(file).startsWith(packages))
    .map((file) => `${display(file)} belongs to the compiled default collection: run \`node scripts/build.mjs\` (or \`npm run build\`)${where ? ` in ${where}` : ''} for commands to see the change`);
}

/** The root of this tsdsl (where its package.json is), for `tsdsl` and `tsdsl/packages` imports. */
function tsdslRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'tsdsl') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the tsdsl package root');
    dir = up;
  }
}

function display(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

let shared: TsMorph.Project | undefined;

/**
 * The project that type-checks package files as tsdsl's own tsconfig would. One per process:
 * building the program (tsdsl's sources and Node's types) is most of an edit's cost, so a
 * `refresh -u` of many packages pays it once; each file is re-read from disk before an edit.
 */
async function projectFor(file: string): Promise<{ m: Morph; project: TsMorph.Project; sf: TsMorph.SourceFile; read: string }> {
  const m = await loadTsMorph();
  const root = tsdslRoot();
  shared ??= new m.Project({
    skipAddingFilesFromTsConfig: true,
    compilerOptions: {
      target: m.ts.ScriptTarget.ES2022,
      module: m.ts.ModuleKind.NodeNext,
      moduleResolution: m.ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts'],
      types: [],
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      // User package files import `tsdsl` and `tsdsl/packages`; resolve them to this tsdsl.
      paths: { tsdsl: [join(root, 'src/index.ts')], 'tsdsl/packages': [join(root, 'packages/index.ts')] },
    },
  });
  const project = shared;
  const read = readFileSync(file, 'utf8');
  // New import declarations use the file's own quotes, and every line keeps the file's own ending:
  // ts-morph writes a text it is given with its setting's, LF, so a CRLF file had every line changed.
  const single = !/^import[^\n]*from\s*"/m.test(read);
  const crlf = /\r\n/.test(read);
  project.manipulationSettings.set({
    quoteKind: single ? m.QuoteKind.Single : m.QuoteKind.Double,
    newLineKind: crlf ? m.NewLineKind.CarriageReturnLineFeed : m.NewLineKind.LineFeed,
  });
  let sf = project.getSourceFile(file);
  // Always the text on disk: an earlier dry run or refused edit may have left another in memory.
  if (sf) sf.replaceWithText(read);
  else {
    sf = project.addSourceFileAtPath(file);
    sf.replaceWithText(read);
    project.resolveSourceFileDependencies();
  }
  return { m, project, sf, read };
}

/** Errors TypeScript reports in `sf`, as `file:line:col: message` keyed without the position. */
function errorsOf(m: Morph, sf: TsMorph.SourceFile): Array<{ key: string; text: string }> {
  return sf
    .getPreEmitDiagnostics()
    .filter((d) => d.getCategory() === m.DiagnosticCategory.Error)
    .map((d) => {
      const message = m.ts.flattenDiagnosticMessageText(d.compilerObject.messageText, ' ');
      const start = d.getStart();
      const pos = start === undefined ? { line: 1, column: 1 } : sf.getLineAndColumnAtPos(start);
      // The line itself: after an edit, its number is the edited text's, which the unchanged file has not.
      const source = (sf.getFullText().split('\n')[pos.line - 1] ?? '').trim();
      const shownLine = source.length > 60 ? `${source.slice(0, 57)}…` : source;
      return { key: `${d.getCode()} ${message}`, text: `${display(sf.getFilePath())}:${pos.line}:${pos.column}: ${message}${shownLine ? ` (at \`${shownLine}\`)` : ''}` };
    });
}

/** Refuse a file that does not parse, naming the first syntax error's file:line. */
function checkSyntax(m: Morph, sf: TsMorph.SourceFile): void {
  const diags = (sf.compilerNode as unknown as { parseDiagnostics?: TsMorph.ts.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
  const first = diags[0];
  if (!first) return;
  const pos = sf.getLineAndColumnAtPos(first.start);
  throw new TsdslError(
    `${display(sf.getFilePath())}:${pos.line}:${pos.column}: syntax error: ${m.ts.flattenDiagnosticMessageText(first.messageText, ' ').replace(/\.$/, '')}; ` +
      'the file does not parse, so it was not edited (fix it, then run the command again)',
  );
}

/**
 * Check the edited text of `sf` (already set) against the original: errors that were not there
 * before make the whole edit fail with their file:line, and nothing is written.
 */
function checkEdit(m: Morph, sf: TsMorph.SourceFile, original: string, what: string): void {
  const after = errorsOf(m, sf);
  if (after.length === 0) return;
  const edited = sf.getFullText();
  sf.replaceWithText(original);
  const before = new Set(errorsOf(m, sf).map((e) => e.key));
  sf.replaceWithText(edited);
  const added = after.filter((e) => !before.has(e.key));
  if (added.length === 0) return;
  throw new TsdslError(
    `${what} would break ${display(sf.getFilePath())}, so it was rolled back (the file is unchanged; the lines below are the edited text's):\n${added
      .slice(0, 5)
      .map((e) => `  ${e.text}`)
      .join('\n')}`,
  );
}

/**
 * Replace `file` with `text` in one rename, keeping its mode; a no-op when the text is the same.
 * With `expected`, the text the edit was made from: a file that no longer holds it (saved from
 * an editor meanwhile, or rewritten by another tsdsl) is left as it is, with an error, rather
 * than losing that change.
 */
export function writeAtomically(path: string, text: string, expected?: string): boolean {
  // A link is followed: its target is rewritten and the link stays (a renamed temporary file
  // would replace the link itself).
  const file = existsSync(path) ? realpathSync(path) : path;
  const old = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  const bare = (t: string | undefined) => t?.replace(/^\uFEFF/, '');
  if (expected !== undefined && bare(old) !== bare(expected)) {
    throw new TsdslError(`${display(file)} changed while it was being edited (saved from an editor, or by another tsdsl), so it was left as it is; run the command again`);
  }
  // A byte-order mark the file had is kept (ts-morph's text of it has none).
  if (old?.startsWith('\uFEFF') && !text.startsWith('\uFEFF')) text = `\uFEFF${text}`;
  if (old === text) return false;
  // A file made read-only is one its owner wants left alone: the rename below would replace it
  // all the same (it needs only the directory to be writable), and root would write it anyway.
  if (old !== undefined && (statSync(file).mode & 0o222) === 0) {
    throw new TsdslError(`${display(file)} is read-only, so it was not changed; make it writable (\`chmod u+w ${display(file)}\`) and run the command again`);
  }
  const tmp = join(dirname(file), `.${randomBytes(6).toString('hex')}.tsdsl-edit`);
  try {
    writeFileSync(tmp, text);
    // The file's own mode, past the umask (which writeFileSync's mode would go through).
    chmodSync(tmp, existsSync(file) ? statSync(file).mode & 0o7777 : 0o644);
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file was never made
    }
    throw new TsdslError(`cannot write ${display(file)}: ${(e as Error).message}`);
  }
  return true;
}

/** The call a package definition is: `definePackage({…})` or `inherit(base, {…})`, and its fields. */
interface Definition {
  call: TsMorph.CallExpression;
  fields: TsMorph.ObjectLiteralExpression;
  kind: 'definePackage' | 'inherit';
}

function calleeName(call: TsMorph.CallExpression): string {
  const e = call.getExpression();
  return e.getText().split('.').pop() ?? '';
}

/**
 * The definition of package `name` starting at `line` of `sf` (the line its location names).
 * Several calls may start on one line (`[definePackage({…}), definePackage({…})]`, a loop):
 * the one whose `name:` is `name`, else the one nearest `column` (a stack frame's column, which
 * a compiled file may have shifted). One whose `name:` literal is another package's is never
 * taken: that would rewrite the other package.
 */
function definitionAt(m: Morph, sf: TsMorph.SourceFile, line: number, column: number, name: string): Definition {
  const found: Array<Definition & { named: string | undefined }> = [];
  for (const call of sf.getDescendantsOfKind(m.SyntaxKind.CallExpression)) {
    const kind = calleeName(call);
    if (kind !== 'definePackage' && kind !== 'inherit') continue;
    if (call.getExpression().getStartLineNumber() !== line) continue;
    const arg = call.getArguments()[kind === 'definePackage' ? 0 : 1];
    if (!arg || !m.Node.isObjectLiteralExpression(arg)) continue;
    const init = property(m, arg, 'name')?.getInitializer();
    const named = init && (m.Node.isStringLiteral(init) || m.Node.isNoSubstitutionTemplateLiteral(init)) ? init.getLiteralValue() : undefined;
    found.push({ call, fields: arg, kind, named });
  }
  const lineStart = sf.compilerNode.getLineStarts()[line - 1] ?? 0;
  // The callee's own name is where a stack frame's column points (`definePackage` of `x.definePackage(`).
  const calleeColumn = (d: Definition) => {
    const e = d.call.getExpression();
    const at = m.Node.isPropertyAccessExpression(e) ? e.getNameNode().getStart() : e.getStart();
    return at - lineStart + 1;
  };
  const byName = found.filter((d) => d.named === name);
  const pool = byName.length ? byName : found.filter((d) => d.named === undefined);
  const def = [...pool].sort((a, b) => Math.abs(calleeColumn(a) - column) - Math.abs(calleeColumn(b) - column))[0];
  if (def) return def;
  const others = found.map((d) => `\`${d.named}\``).join(', ');
  throw new TsdslError(
    `${display(sf.getFilePath())}:${line}: no definePackage(…) or inherit(…, {…}) call for \`${name}\` starts on this line` +
      (others ? ` (only one for ${others})` : '') +
      '; the file changed since the package was loaded, or the definition is built by other code (edit it by hand)',
  );
}

function property(m: Morph, obj: TsMorph.ObjectLiteralExpression, key: string): TsMorph.PropertyAssignment | undefined {
  const p = obj.getProperty(key);
  return p && m.Node.isPropertyAssignment(p) ? p : undefined;
}

/** Replace a string literal's value keeping its quote character. */
function setString(m: Morph, node: TsMorph.Node, value: string, where: string): boolean {
  if (!m.Node.isStringLiteral(node) && !m.Node.isNoSubstitutionTemplateLiteral(node)) {
    throw new TsdslError(`${where}: expected a string literal, found \`${node.getText()}\`; edit this field by hand`);
  }
  if (node.getLiteralValue() === value) return false;
  const quote = node.getText()[0]!;
  const escaped = value.replace(/\\/g, '\\\\').split(quote).join(`\\${quote}`);
  node.replaceWithText(`${quote}${escaped}${quote}`);
  return true;
}

function at(node: TsMorph.Node): string {
  return `${display(node.getSourceFile().getFilePath())}:${node.getStartLineNumber()}`;
}

/** A `const NAME = '1.0'` of the file that gives a definition its version, and only that definition. */
interface VersionConstant {
  /** Its declaration (a node stays itself across edits; a symbol is the checker's of the moment). */
  declaration: TsMorph.VariableDeclaration;
  literal: TsMorph.StringLiteral | TsMorph.NoSubstitutionTemplateLiteral;
  value: string;
}

/**
 * The constant the `version` field `raw` (`version,` or `version: v`) names, or an error that
 * says why refresh cannot set it: a helper's parameter (each call gives its own), a constant
 * other code uses too (setting it would change them as well), anything but a string constant.
 */
function constantOf(m: Morph, sf: TsMorph.SourceFile, def: Definition, raw: TsMorph.ObjectLiteralElementLike, name: string): VersionConstant {
  const init = m.Node.isPropertyAssignment(raw) ? raw.getInitializer() : undefined;
  const ident = m.Node.isShorthandPropertyAssignment(raw) ? raw.getNameNode() : init && m.Node.isIdentifier(init) ? init : undefined;
  const shown = ident ? `\`${ident.getText()}\`` : `\`${(init ?? raw).getText()}\``;
  const byHand = `${at(raw)}: the version of \`${name}\` is ${shown}, not a string literal`;
  if (!ident) throw new TsdslError(`${byHand}; edit it by hand`);
  const checker = sf.getProject().getTypeChecker();
  const symbol = m.Node.isShorthandPropertyAssignment(raw) ? checker.getShorthandAssignmentValueSymbol(raw) : ident.getSymbol();
  const decl = symbol?.getDeclarations()[0];
  if (!symbol || !decl) throw new TsdslError(`${byHand}, and its declaration is not found; edit it by hand`);
  if (m.Node.isParameterDeclaration(decl)) {
    throw new TsdslError(`${byHand} but a parameter of the function at ${at(decl)}: each call gives its own, so change the version where \`${name}\` is made, by hand`);
  }
  const value = m.Node.isVariableDeclaration(decl) ? decl.getInitializer() : undefined;
  const statement = m.Node.isVariableDeclaration(decl) ? decl.getVariableStatement() : undefined;
  if (!value || !(m.Node.isStringLiteral(value) || m.Node.isNoSubstitutionTemplateLiteral(value)) || decl.getSourceFile() !== sf || statement?.getDeclarationKind() !== 'const') {
    throw new TsdslError(`${byHand} nor a \`const\` of this file set to one (${at(decl)}); edit it by hand`);
  }
  const [start, end] = [def.call.getStart(), def.call.getEnd()];
  const elsewhere = statement.isExported()
    ? [decl]
    : (decl as TsMorph.VariableDeclaration).getNameNode().asKindOrThrow(m.SyntaxKind.Identifier).findReferencesAsNodes().filter((r) => r.getSourceFile() !== sf || r.getStart() < start || r.getEnd() > end);
  if (elsewhere.length) {
    throw new TsdslError(`${byHand}; the constant at ${at(decl)} is used ${statement.isExported() ? 'by other files (it is exported)' : `by other code too (${at(elsewhere[0]!)})`}, so setting it would change that as well: edit it by hand`);
  }
  return { declaration: decl as TsMorph.VariableDeclaration, literal: value, value: value.getLiteralValue() };
}

/** The value of the template `node` with the version constant as `version`; undefined when it holds anything else. */
function templateValue(m: Morph, node: TsMorph.Node, constant: VersionConstant, version: string): string | undefined {
  if (!m.Node.isTemplateExpression(node)) return undefined;
  let text = node.getHead().compilerNode.text;
  for (const span of node.getTemplateSpans()) {
    const e = span.getExpression();
    if (!m.Node.isIdentifier(e) || e.getSymbol()?.getDeclarations()[0] !== constant.declaration) return undefined;
    text += version + span.getLiteral().compilerNode.text;
  }
  return text;
}

/** What `rewritePackage` changes; each field is optional. */
export interface PackageEdit {
  version?: string;
  sha256?: string;
  /** New URLs from the old ones (same count: each literal is replaced in place). */
  urls?: (old: readonly string[]) => readonly string[];
  /** The url() origin's `fileName` from the old one, where the definition sets one. */
  fileName?: (old: string) => string;
  /**
   * Where the url() origin sets no `fileName`: the one to add (after `urls`) given its new URLs,
   * or undefined for none (the first URL's file name names the store item well).
   */
  addFileName?: (urls: readonly string[]) => string | undefined;
  /** String fields of `properties` to set where they already exist (`debianVersion`). */
  properties?: Readonly<Record<string, string>>;
}

/** The outcome of an edit: the file, whether it changed, and its new text. */
export interface EditResult {
  file: string;
  changed: boolean;
  text: string;
}

/**
 * Rewrite the definition of package `name` found at `location`: version, sha256, URLs and
 * properties as `edit` says, comments and layout untouched. Nothing is written when nothing
 * changes (running it twice is a no-op) or when `dryRun` is set.
 */
export async function rewritePackage(location: Location, name: string, edit: PackageEdit, options: { dryRun?: boolean } = {}): Promise<EditResult> {
  const { m, sf, read } = await projectFor(location.file);
  checkSyntax(m, sf);
  const original = sf.getFullText();
  const def = definitionAt(m, sf, location.line, location.column, name);
  const where = at(def.call);
  let changed = false;
  // A version given by a constant of the file (`const version = '1.0'`, `version,`) is set
  // there, last; URLs written as templates of it then need no edit of their own.
  let versionConstant: VersionConstant | undefined;
  if (edit.version !== undefined) {
    const raw = def.fields.getProperty('version');
    if (!raw) throw new TsdslError(`${where}: \`${name}\` has no version field of its own (it inherits it); give it one, then run again`);
    const init = m.Node.isPropertyAssignment(raw) ? raw.getInitializer() : undefined;
    if (init && (m.Node.isStringLiteral(init) || m.Node.isNoSubstitutionTemplateLiteral(init))) changed = setString(m, init, edit.version, at(raw)) || changed;
    else versionConstant = constantOf(m, sf, def, raw, name);
  }
  let newUrls: readonly string[] | undefined;
  let addFileName: { urlsProp: TsMorph.PropertyAssignment; name: string; quote: string } | undefined;
  if (edit.sha256 !== undefined || edit.urls || edit.fileName) {
    const src = property(m, def.fields, 'source');
    const init = src?.getInitializer();
    const arg = init && m.Node.isCallExpression(init) && calleeName(init) === 'url' ? init.getArguments()[0] : undefined;
    if (!arg || !m.Node.isObjectLiteralExpression(arg)) {
      throw new TsdslError(`${where}: the source of \`${name}\` is not written as url({ urls, sha256 }) in this definition; update it by hand`);
    }
    if (edit.sha256 !== undefined) {
      const h = property(m, arg, 'sha256');
      if (!h) throw new TsdslError(`${at(arg)}: the url() origin of \`${name}\` has no sha256 field`);
      changed = setString(m, h.getInitializerOrThrow(), edit.sha256, at(h)) || changed;
    }
    if (edit.urls) {
      const u = property(m, arg, 'urls')?.getInitializer();
      if (!u) throw new TsdslError(`${at(arg)}: the url() origin of \`${name}\` has no urls field`);
      const literals = m.Node.isArrayLiteralExpression(u) ? u.getElements() : [u];
      const valueOf = (l: TsMorph.Node, version: string | undefined) =>
        m.Node.isStringLiteral(l) || m.Node.isNoSubstitutionTemplateLiteral(l) ? l.getLiteralValue() : versionConstant && version !== undefined ? templateValue(m, l, versionConstant, version) : undefined;
      const old = literals.map((l) => valueOf(l, versionConstant?.value) ?? l.getText());
      const next = edit.urls(old);
      newUrls = next;
      // Replace from the last so that earlier nodes stay valid.
      for (let i = literals.length - 1; i >= 0; i--) {
        const l = literals[i]!;
        const wanted = next[i] ?? old[i]!;
        if (m.Node.isTemplateExpression(l) && versionConstant && edit.version !== undefined) {
          // A template of the version constant follows it; one that would not give the new URL is left to the user.
          const got = valueOf(l, edit.version);
          if (got === wanted) continue;
          throw new TsdslError(`${at(l)}: this URL would read ${got ?? l.getText()} once the version is ${edit.version}, not ${wanted}; edit it by hand`);
        }
        changed = setString(m, l, wanted, at(l)) || changed;
      }
    }
    const f = edit.fileName && property(m, arg, 'fileName');
    // None, and the new first URL's file name cannot name a store item (Debian's `~`): one is added.
    const added = !property(m, arg, 'fileName') && newUrls && edit.addFileName ? edit.addFileName(newUrls) : undefined;
    // Added last (after the literals' edits, which keep nodes; inserting text does not), on a line
    // of its own after `urls`, indented as it is.
    if (added !== undefined) addFileName = { urlsProp: property(m, arg, 'urls')!, name: added, quote: property(m, arg, 'sha256')?.getInitializer()?.getText()[0] === '"' ? '"' : "'" };
    if (f && edit.fileName) {
      const init = f.getInitializerOrThrow();
      // Its store item is named after it: left as it was, 2.15.0's tarball would be stored as `hwloc-2.9.0.tar.bz2`.
      if (m.Node.isTemplateExpression(init) && versionConstant && edit.version !== undefined) {
        // A template of the version constant follows it, as the URLs do; one that would not give the new name is left to the user.
        const before = templateValue(m, init, versionConstant, versionConstant.value);
        const got = templateValue(m, init, versionConstant, edit.version);
        const wanted = before === undefined ? undefined : edit.fileName(before);
        if (got === undefined || got !== wanted) {
          throw new TsdslError(`${at(f)}: this fileName would read ${got ?? init.getText()} once the version is ${edit.version}${wanted === undefined ? '' : `, not ${wanted}`}; edit it by hand`);
        }
      } else {
        const old = m.Node.isStringLiteral(init) || m.Node.isNoSubstitutionTemplateLiteral(init) ? init.getLiteralValue() : undefined;
        if (old === undefined) throw new TsdslError(`${at(f)}: expected a string literal for fileName, found \`${init.getText()}\`; edit this field by hand`);
        changed = setString(m, init, edit.fileName(old), at(f)) || changed;
      }
    }
  }
  for (const [key, value] of Object.entries(edit.properties ?? {})) {
    const props = property(m, def.fields, 'properties')?.getInitializer();
    if (!props || !m.Node.isObjectLiteralExpression(props)) continue;
    const p = property(m, props, key);
    if (p) changed = setString(m, p.getInitializerOrThrow(), value, at(p)) || changed;
  }
  if (versionConstant && edit.version !== undefined) changed = setString(m, versionConstant.literal, edit.version, at(versionConstant.literal)) || changed;
  if (addFileName) {
    const { urlsProp, name: fileName, quote: q } = addFileName;
    const full = sf.getFullText();
    let end = urlsProp.getEnd();
    const comma = full[end] === ',';
    if (comma) end++;
    // After a comment ending the line, not before it (the comment is the URLs').
    const nl = full.indexOf('\n', end);
    const rest = full.slice(end, nl < 0 ? undefined : nl).replace(/\r$/, '');
    const at = comma && /^\s*(\/\/.*)?$/.test(rest) ? end + rest.length : end;
    const lineStart = full.lastIndexOf('\n', urlsProp.getStart()) + 1;
    const indent = /^[ \t]*/.exec(full.slice(lineStart))![0];
    const eol = /\r\n/.test(full) ? '\r\n' : '\n';
    const literal = `${q}${fileName.replace(/\\/g, '\\\\').split(q).join(`\\${q}`)}${q}`;
    sf.insertText(at, `${comma ? '' : ','}${eol}${indent}fileName: ${literal}${comma ? ',' : ''}`);
    changed = true;
  }
  const text = sf.getFullText();
  if (!changed) return { file: location.file, changed: false, text: original };
  checkEdit(m, sf, original, `updating \`${name}\``);
  if (!options.dryRun) writeAtomically(location.file, text, read);
  return { file: location.file, changed: true, text };
}

/** A named import a new definition needs: `names` from `module` (a specifier as written in the file). */
export interface NeededImport {
  module: string;
  names: readonly string[];
}

/** The `name:` of a definePackage call, if it is a string literal. */
function definedName(m: Morph, call: TsMorph.CallExpression): string | undefined {
  const arg = call.getArguments()[0];
  if (!arg || !m.Node.isObjectLiteralExpression(arg)) return undefined;
  const init = property(m, arg, 'name')?.getInitializer();
  return init && m.Node.isStringLiteral(init) ? init.getLiteralValue() : undefined;
}

/**
 * The `definePackage` statements of `file` with their package names, after checking that the
 * file parses and does not define `name` already (what insertDefinition refuses: `tsdsl import
 * --insert` asks first, before downloading anything).
 */
export async function definitionsIn(file: string, name: string): Promise<{ m: Morph; sf: TsMorph.SourceFile; read: string; defs: Array<{ name: string; statement: TsMorph.Statement }> }> {
  const path = resolve(file);
  if (!existsSync(path)) throw new TsdslError(`--insert ${file}: no such file; give an existing package file (e.g. packages/maths.ts)`);
  const { m, sf, read } = await projectFor(path);
  checkSyntax(m, sf);
  const defs: Array<{ name: string; statement: TsMorph.Statement }> = [];
  for (const st of sf.getStatements()) {
    if (!m.Node.isVariableStatement(st)) continue;
    for (const d of st.getDeclarations()) {
      const init = d.getInitializer();
      if (init && m.Node.isCallExpression(init) && calleeName(init) === 'definePackage') {
        const n = definedName(m, init);
        if (n === name) {
          // tsdsl's own package files are loaded always; a directory of one's own, with -L.
          const own = dirname(sourceFileOf(fileURLToPath(new URL('../../packages/index.js', import.meta.url))));
          const load = dirname(path) === own ? '' : ` -L ${dirname(file) || '.'}`;
          throw new TsdslError(`${at(st)}: \`${name}\` is already defined here; use \`tsdsl refresh -u${load} ${name}\` to update it`);
        }
        if (n !== undefined) defs.push({ name: n, statement: st });
      }
    }
  }
  return { m, sf, read, defs };
}

/**
 * Insert the statement `text` defining package `name` into `file`, before the first top-level
 * `definePackage` statement whose package name sorts after it (after the last one otherwise),
 * and add the named imports it needs (merged into existing import declarations of the same
 * module, kept sorted). Refuses a file that already defines `name`.
 */
export async function insertDefinition(file: string, name: string, text: string, imports: readonly NeededImport[], options: { dryRun?: boolean } = {}): Promise<EditResult> {
  const path = resolve(file);
  const { m, sf, read, defs } = await definitionsIn(path, name);
  const original = sf.getFullText();
  const body = text.replace(/\s+$/, '');
  const after = defs.find((d) => compareNames(d.name, name) > 0);
  let edited: string;
  if (after) {
    // Before the statement and its doc comment, at the start of its line.
    const start = after.statement.getStart(true);
    const lineStart = original.lastIndexOf('\n', start - 1) + 1;
    edited = `${original.slice(0, lineStart)}${body}\n\n${original.slice(lineStart)}`;
  } else {
    const last = defs[defs.length - 1]?.statement;
    const end = last ? last.getEnd() : original.replace(/\s+$/, '').length;
    edited = `${original.slice(0, end)}\n\n${body}${end === original.length ? '\n' : ''}${original.slice(end)}`;
  }
  sf.replaceWithText(edited);
  for (const need of imports) {
    const decl = sf.getImportDeclaration((d) => d.getModuleSpecifierValue() === need.module && !d.isTypeOnly());
    const have = new Set([...sf.getImportDeclarations().flatMap((d) => d.getNamedImports().map((n) => (n.getAliasNode() ?? n.getNameNode()).getText()))]);
    const localNames = new Set(sf.getVariableDeclarations().map((v) => v.getName()));
    const missing = need.names.filter((n) => !have.has(n) && !localNames.has(n));
    if (missing.length === 0) continue;
    if (decl) {
      for (const n of missing) {
        const names = decl.getNamedImports().map((x) => x.getName());
        const index = names.findIndex((x) => compareNames(x, n) > 0);
        decl.insertNamedImport(index < 0 ? names.length : index, n);
      }
    } else {
      const decls = sf.getImportDeclarations();
      sf.insertImportDeclaration(decls.length, { moduleSpecifier: need.module, namedImports: [...missing].sort() });
    }
  }
  checkEdit(m, sf, original, `inserting \`${name}\``);
  const result = sf.getFullText();
  if (!options.dryRun) writeAtomically(path, result, read);
  return { file: path, changed: result !== original, text: result };
}
