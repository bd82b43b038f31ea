/**
 * The derivation model, its ATerm text (the bytes of a `.drv` file), and the hashing that
 * turns a derivation into Nix-identical output and `.drv` paths.
 *
 * Lowering (`lower.ts`) builds a partial `Derivation` with empty output paths and hands it to
 * `finalizeDerivation`, which fills in the output paths (input-addressed: the `output:<id>`
 * fingerprint over the masked "hash modulo" text; fixed-output: the content-addressed path)
 * and computes the `.drv` path. The store (`src/store`) writes the resulting text. Every
 * rule here follows Nix 2.8, so a `.drv` written by tsdsl is one Nix would write and accept.
 *
 * Reference: /work/shared/reference/nix-formats.md §1.5–§1.7 and §2.
 */
import {
  HASH_SIZES,
  makeFixedOutputPath,
  makeStorePathFromHex,
  makeTextPath,
  copyChars,
  storePathOfChecked,
  storePathOfCheckedName,
  makeTextPathFromHex,
  parseHash,
  parseStorePath,
  sha256,
  sha256Hex,
  validateDrvName,
  validateStoreName,
} from './hash.js';
import type { HashAlgo } from './hash.js';
import { compareStrings } from '../compare.js';
import { TsdslError } from '../errors.js';
import { latin1Slice, utf8Write } from './buffer-native.js';

/** One output of a derivation. `hashAlgo`/`hash` are empty unless the output is fixed (content-addressed). */
export interface DerivationOutput {
  /** Output store path; empty while the derivation is not finalized. */
  path: string;
  /** `''` for input-addressed outputs; `<algo>` (flat) or `r:<algo>` (recursive) for fixed ones. */
  hashAlgo: string;
  /** Lower-case base16 of the expected digest for fixed outputs, else `''`. */
  hash: string;
}

/** A derivation, field for field as in Nix's and Guix's `.drv` files. */
export interface Derivation {
  outputs: Record<string, DerivationOutput>;
  /** Input `.drv` path → names of the outputs used. */
  inputDrvs: Record<string, readonly string[]>;
  inputSrcs: readonly string[];
  system: string;
  builder: string;
  args: readonly string[];
  env: Record<string, string>;
}

/**
 * A derivation's environment while lowering makes it: each variable once, in the order set.
 * Cheaper than a record for the few variables of each of tens of thousands of derivations
 * (a record with that many distinct keys is a dictionary, and printing sorts its keys anyway).
 * The variables are the first `size` entries of `keys` and `values`; `clear()` keeps the lists'
 * room, so that one object serves derivation after derivation.
 */
export class EnvVars {
  readonly keys: string[] = [];
  readonly values: string[] = [];
  size = 0;

  /** Sets `k` (replacing its value when it is set already). */
  set(k: string, v: string): void {
    const i = this.indexOf(k);
    if (i < 0) this.add(k, v);
    else this.values[i] = v;
  }

  /** Sets `k`, which the caller knows is not set yet. */
  add(k: string, v: string): void {
    const n = this.size;
    if (n < this.keys.length) {
      this.keys[n] = k;
      this.values[n] = v;
    } else {
      this.keys.push(k);
      this.values.push(v);
    }
    this.size = n + 1;
  }

  has(k: string): boolean {
    return this.indexOf(k) >= 0;
  }

  get(k: string): string | undefined {
    const i = this.indexOf(k);
    return i < 0 ? undefined : this.values[i];
  }

  delete(k: string): void {
    const i = this.indexOf(k);
    if (i < 0) return;
    const n = --this.size;
    for (let j = i; j < n; j++) {
      this.keys[j] = this.keys[j + 1]!;
      this.values[j] = this.values[j + 1]!;
    }
  }

  /** The names set, in the order set. */
  names(): string[] {
    return this.keys.slice(0, this.size);
  }

  /** Empties it, keeping the lists' room (the old entries stay until written over). */
  clear(): void {
    this.size = 0;
  }

  private indexOf(k: string): number {
    const keys = this.keys;
    for (let i = 0, n = this.size; i < n; i++) if (keys[i] === k) return i;
    return -1;
  }
}

/** Options of `serializeDerivation` for the variants hashing needs. */
export interface SerializeOptions {
  /** Print every output as `("<name>","","","")` and blank the env vars named after outputs. */
  maskOutputs?: boolean;
  /**
   * Print this key instead of each input `.drv` path (the hex hash modulo); inputs that map to
   * the same key have their output lists merged, as Nix 2.8 does.
   */
  replaceInputDrv?: (drvPath: string) => string;
}

function sortedKeys(record: object): string[] {
  return Object.keys(record).sort(compareStrings);
}

const NEEDS_ESCAPE = /["\\\n\r\t]/;

/** Quotes a string with Nix's five ATerm escapes; every other byte is written as is. */
export function quoteATermString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  // A scan with slices is about twice as fast as replace() with a callback.
  let out = '"';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let r: string;
    if (c === 0x22) r = '\\"';
    else if (c === 0x5c) r = '\\\\';
    else if (c === 0x0a) r = '\\n';
    else if (c === 0x0d) r = '\\r';
    else if (c === 0x09) r = '\\t';
    else continue;
    out += s.slice(last, i) + r;
    last = i + 1;
  }
  return out + s.slice(last) + '"';
}

// Fields Nix writes without escaping; a quote or backslash there makes a file nobody can read back.
const UNQUOTABLE = /["\\]/;

function quoteRaw(s: string, what: string): string {
  if (UNQUOTABLE.test(s)) {
    throw new TsdslError(`${what} \`${s}\` contains \`"\` or \`\\\`, which Nix writes unescaped and could not read back; remove them`);
  }
  return '"' + s + '"';
}

function stringList(items: readonly string[], quote: (s: string) => string): string {
  let out = '[';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    out += quote(items[i]!);
  }
  return out + ']';
}

const quoteOutputName = (s: string): string => quoteRaw(s, 'output name');
const quotePath = (s: string): string => quoteRaw(s, 'store path');

/**
 * The parts of a derivation's ATerm that every hashing variant shares, computed once:
 * hashing a derivation needs up to three texts (masked, modulo, final) that differ only in
 * the outputs, the input-derivation table and the env vars named after outputs.
 */
class PreparedDerivation {
  readonly outputNames: string[];
  /** `,[srcs],"system","builder",[args],` — the fixed middle of the text. */
  readonly middle: string;
  /** Sorted env keys and, for those not named after an output, their printed `("k","v")`. */
  readonly envKeys: string[];
  readonly envPrinted: (string | undefined)[];

  constructor(readonly drv: Derivation) {
    this.outputNames = sortedKeys(drv.outputs);
    const srcs = [...new Set(drv.inputSrcs)].sort(compareStrings);
    this.middle =
      ',' + stringList(srcs, quotePath) + ',' + quoteRaw(drv.system, 'system') + ',' + quoteATermString(drv.builder) + ',' +
      stringList(drv.args, quoteATermString) + ',';
    this.envKeys = sortedKeys(drv.env);
    this.envPrinted = this.envKeys.map((k) =>
      Object.hasOwn(drv.outputs, k) ? undefined : '(' + quoteATermString(k) + ',' + quoteATermString(drv.env[k]!) + ')',
    );
  }

  outputsText(masked: boolean): string {
    let out = '[';
    for (let i = 0; i < this.outputNames.length; i++) {
      const name = this.outputNames[i]!;
      if (i > 0) out += ',';
      if (masked) {
        out += '(' + quoteOutputName(name) + ',"","","")';
      } else {
        const o = this.drv.outputs[name]!;
        out += '(' + quoteOutputName(name) + ',' + quotePath(o.path) + ',' + quoteRaw(o.hashAlgo, 'hash algorithm') + ',' + quoteRaw(o.hash, 'hash') + ')';
      }
    }
    return out + ']';
  }

  /** Env text; output vars get `outputValue(name)` (Nix's masking blanks them). */
  envText(outputValue: (name: string) => string): string {
    let out = '[';
    for (let i = 0; i < this.envKeys.length; i++) {
      if (i > 0) out += ',';
      const printed = this.envPrinted[i];
      if (printed !== undefined) {
        out += printed;
      } else {
        const k = this.envKeys[i]!;
        out += '(' + quoteATermString(k) + ',' + quoteATermString(outputValue(k)) + ')';
      }
    }
    return out + ']';
  }

  text(outputs: string, inputDrvs: string, env: string): string {
    return 'Derive(' + outputs + ',' + inputDrvs + this.middle + env + ')';
  }
}

/** Prints an input-derivation table; keys may be `.drv` paths or hash-modulo hex. */
function inputDrvsText(drv: Derivation, replace?: (drvPath: string) => string): string {
  const table = new Map<string, Set<string>>();
  for (const path of Object.keys(drv.inputDrvs)) {
    const key = replace ? replace(path) : path;
    let set = table.get(key);
    if (!set) table.set(key, (set = new Set()));
    for (const o of drv.inputDrvs[path]!) set.add(o);
  }
  const keys = [...table.keys()].sort(compareStrings);
  let out = '[';
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += ',';
    const key = keys[i]!;
    out += '(' + quotePath(key) + ',' + stringList([...table.get(key)!].sort(compareStrings), quoteOutputName) + ')';
  }
  return out + ']';
}

/**
 * Prints a derivation as Nix's ATerm (one line, no trailing newline): outputs, input
 * derivations (with their output names), input sources and env sorted by UTF-8 bytes; args
 * in the given order. `options` select the masked and hash-modulo variants hashing uses.
 */
export function serializeDerivation(drv: Derivation, options: SerializeOptions = {}): string {
  const p = new PreparedDerivation(drv);
  const masked = options.maskOutputs === true;
  return p.text(
    p.outputsText(masked),
    inputDrvsText(drv, options.replaceInputDrv),
    p.envText(masked ? () => '' : (k) => drv.env[k]!),
  );
}

// ---------------------------------------------------------------------------------------
// Parsing

class ATermParser {
  pos = 0;
  constructor(readonly text: string) {}

  fail(expected: string): never {
    const context = JSON.stringify(this.text.slice(this.pos, this.pos + 20));
    const found = this.pos >= this.text.length ? 'the end of the text' : context;
    throw new TsdslError(`derivation ATerm: expected ${expected} at character ${this.pos}, found ${found}; the file is damaged or not a .drv file`);
  }

  expect(token: string): void {
    if (!this.text.startsWith(token, this.pos)) this.fail(`\`${token}\``);
    this.pos += token.length;
  }

  /** Consumes `token` if it comes next. */
  accept(token: string): boolean {
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  string(): string {
    if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('a string');
    const start = ++this.pos;
    // Fast path: most strings have no escapes.
    const quote = this.text.indexOf('"', start);
    const backslash = this.text.indexOf('\\', start);
    if (quote < 0) {
      this.pos = this.text.length;
      this.fail(`a closing \`"\` for the string that starts at character ${start - 1}`);
    }
    if (backslash < 0 || backslash > quote) {
      this.pos = quote + 1;
      return this.text.slice(start, quote);
    }
    const parts: string[] = [];
    let chunk = start;
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (Number.isNaN(c)) this.fail('a closing `"`');
      if (c === 0x22) break;
      if (c === 0x5c) {
        parts.push(this.text.slice(chunk, this.pos));
        const e = this.text[this.pos + 1];
        if (e === undefined) this.fail('an escaped character');
        // Like Nix, an unknown escape stands for the character itself.
        parts.push(e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e);
        this.pos += 2;
        chunk = this.pos;
      } else {
        this.pos++;
      }
    }
    parts.push(this.text.slice(chunk, this.pos));
    this.pos++;
    return parts.join('');
  }

  /** `[item,item,…]` */
  list<T>(item: () => T): T[] {
    this.expect('[');
    const out: T[] = [];
    if (this.accept(']')) return out;
    do out.push(item());
    while (this.accept(','));
    this.expect(']');
    return out;
  }

  /**
   * `[(key,…),…]` into a prototype-less record; `rest` reads what follows the key's comma. A
   * repeated key is an error at its tuple, naming it as `what`.
   */
  keyedList<T>(what: string, rest: () => T): Record<string, T> {
    const into = nullRecord<T>();
    this.list(() => {
      const at = this.pos;
      this.expect('(');
      const key = this.string();
      this.expect(',');
      const value = rest();
      this.expect(')');
      if (Object.hasOwn(into, key)) {
        this.pos = at;
        this.fail(`a new ${what}, not a second \`${key}\``);
      }
      into[key] = value;
    });
    return into;
  }
}

function nullRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/**
 * Reads a `.drv` file's ATerm. Strict about structure (no whitespace, nothing after the
 * closing parenthesis, no duplicate keys); errors give the character position. Unsorted
 * lists are accepted, as Nix accepts them, and re-printing sorts them.
 */
export function parseDerivation(text: string): Derivation {
  const p = new ATermParser(text);
  if (text.startsWith('DrvWithVersion(')) {
    throw new TsdslError('derivation ATerm: `DrvWithVersion` (Nix dynamic derivations) is not supported; only `Derive(...)` files can be read');
  }
  p.expect('Derive(');
  const outputs = p.keyedList<DerivationOutput>('output name', () => {
    const path = p.string();
    p.expect(',');
    const hashAlgo = p.string();
    p.expect(',');
    return { path, hashAlgo, hash: p.string() };
  });
  p.expect(',');
  const inputDrvs = p.keyedList<readonly string[]>('input derivation', () => p.list(() => p.string()));
  p.expect(',');
  const inputSrcs = p.list(() => p.string());
  p.expect(',');
  const system = p.string();
  p.expect(',');
  const builder = p.string();
  p.expect(',');
  const args = p.list(() => p.string());
  p.expect(',');
  const env = p.keyedList<string>('environment variable', () => p.string());
  p.expect(')');
  if (p.pos !== text.length) p.fail('the end of the text');
  return { outputs, inputDrvs, inputSrcs, system, builder, args, env };
}

// ---------------------------------------------------------------------------------------
// Hashing and paths

/** True when the derivation has exactly one output, `out`, with a fixed hash (a fixed-output derivation). */
export function isFixedOutput(drv: Derivation): boolean {
  const names = Object.keys(drv.outputs);
  if (names.length !== 1 || names[0] !== 'out') return false;
  const out = drv.outputs['out']!;
  return out.hashAlgo !== '' && out.hash !== '';
}

/** Store-path name of an output: the derivation name for `out`, `<name>-<output>` otherwise. */
export function outputPathName(drvName: string, outputName: string): string {
  return outputName === 'out' ? drvName : `${drvName}-${outputName}`;
}

/** The `.drv` file's references: its input derivations and input sources, sorted. */
export function derivationReferences(drv: Derivation): string[] {
  return [...new Set([...Object.keys(drv.inputDrvs), ...drv.inputSrcs])].sort(compareStrings);
}

function fixedOutputModuloHex(out: DerivationOutput): string {
  return sha256Hex(`fixed:out:${out.hashAlgo}:${out.hash}:${out.path}`);
}

/**
 * Computes Nix's `hashDerivationModulo`, memoized by `.drv` path so a graph of n
 * derivations costs O(n) hashing. Callers that finalize derivations in dependency order
 * never need `resolve`: `finalizeDerivation` records each result. `resolve` (e.g. reading
 * from the store) is used only for input paths the hasher has not seen.
 */
export class DerivationHasher {
  // Hex, since that is the form the modulo text embeds; Buffers are made only on request.
  private readonly table = new Map<string, string>();
  // What `record` was given and `table` does not hold yet, as path, hex, path, hex…: lowering
  // records every derivation it finalizes but looks none up by path (its inputs carry their
  // hash modulo), so the map, whose inserts of new 60-character keys cost several percent of
  // lowering, is filled only when something asks.
  private pending: string[] = [];

  private get memo(): Map<string, string> {
    const p = this.pending;
    if (p.length > 0) {
      for (let i = 0; i < p.length; i += 2) this.table.set(p[i]!, p[i + 1]!);
      this.pending = [];
    }
    return this.table;
  }
  /** Input sources already found to be well-formed store paths in `storeDir`. */
  readonly checkedSources = new Set<string>();
  /**
   * Printing's byte buffer for the derivations finalized with this hasher: [0, printedEnd)
   * holds each one's input-table entries, `("<.drv path>",[outputs])` and `("<hash modulo>",
   * [outputs])`, printed once and copied into every user's texts; the texts are printed after.
   * Internal to this module.
   *
   * It starts at 64 kB and grows once to 16 MB (about 100,000 derivations' entries), then
   * doubles: uninitialized, its pages are mapped only as they are first written, so a large
   * graph is not copied into a new buffer at each doubling (a page written for the first time
   * costs 5-15 µs on this kind of machine, and the copies wrote twice as many as were kept),
   * and a store checking a few derivations holds no large buffer.
   */
  printBuffer: Buffer = Buffer.allocUnsafe(1 << 16);
  printedEnd = 0;

  constructor(
    readonly storeDir: string,
    private readonly resolve?: (drvPath: string) => Derivation,
    /**
     * Where the derivations finalized with this hasher are found by path, when their owner
     * keeps them (a `Lowerer`): then finalizing records nothing here, and lookups ask it.
     */
    private readonly finalized?: (drvPath: string) => { readonly hashModuloHex?: string } | undefined,
  ) {}

  /** Number of memoized `.drv` paths (besides those `finalized` finds). */
  get size(): number {
    return this.memo.size;
  }

  /** Records the (unmasked) hash modulo of a `.drv` path computed elsewhere, e.g. in an earlier run. */
  record(drvPath: string, hashModulo: Uint8Array | string): void {
    this.pending.push(drvPath, typeof hashModulo === 'string' ? hashModulo : Buffer.from(hashModulo).toString('hex'));
  }

  /** Records a derivation `finalizeKnownInputs` just made, unless this hasher's owner keeps it (`finalized`). */
  recordFinalized(drvPath: string, moduloHex: string): void {
    if (this.finalized === undefined) this.pending.push(drvPath, moduloHex);
  }

  /** The memoized hash modulo (hex) of `drvPath`, without resolving anything. */
  private lookup(drvPath: string): string | undefined {
    return this.memo.get(drvPath) ?? this.finalized?.(drvPath)?.hashModuloHex;
  }

  /** True when the hash modulo of `drvPath` is memoized (it was finalized or recorded here). */
  has(drvPath: string): boolean {
    return this.lookup(drvPath) !== undefined;
  }

  /** The memoized hash modulo of a `.drv` path, if known, without resolving anything. */
  known(drvPath: string): Buffer | undefined {
    const hex = this.lookup(drvPath);
    return hex === undefined ? undefined : Buffer.from(hex, 'hex');
  }

  /**
   * The hash modulo of the derivation stored at `drvPath`: what replaces that path when it
   * is an input.
   */
  hashModuloOfPath(drvPath: string): Buffer {
    return Buffer.from(this.hashModuloHexOfPath(drvPath), 'hex');
  }

  /**
   * `hashModuloOfPath` in lower-case hex. Unknown inputs are resolved depth-first without
   * recursion, so a dependency chain of any length works.
   */
  hashModuloHexOfPath(drvPath: string): string {
    const hit = this.lookup(drvPath);
    if (hit !== undefined) return hit;
    const resolve = this.resolve;
    if (!resolve) {
      throw new TsdslError(`hash modulo of \`${drvPath}\` is unknown and no resolver was given; finalize input derivations first or pass a resolver to DerivationHasher`);
    }
    const loaded = new Map<string, Derivation>();
    const onStack = new Set<string>();
    const stack = [drvPath];
    while (stack.length > 0) {
      const path = stack[stack.length - 1]!;
      if (this.has(path)) {
        stack.pop();
        continue;
      }
      let drv = loaded.get(path);
      if (!drv) {
        drv = resolve(path);
        loaded.set(path, drv);
        onStack.add(path);
      }
      let pending = false;
      if (!isFixedOutput(drv)) {
        for (const input of Object.keys(drv.inputDrvs)) {
          if (this.has(input)) continue;
          if (onStack.has(input)) {
            throw new TsdslError(`derivation \`${input}\` depends on itself through its inputs; the .drv files are inconsistent`);
          }
          stack.push(input);
          pending = true;
        }
      }
      if (pending) continue;
      this.memo.set(path, this.moduloHex(drv));
      loaded.delete(path);
      onStack.delete(path);
      stack.pop();
    }
    return this.lookup(drvPath)!;
  }

  /**
   * Nix's unmasked `hashDerivationModulo` of a finalized derivation: for a fixed-output
   * derivation SHA-256 of `fixed:out:<algo>:<hex>:<path>`, otherwise SHA-256 of its ATerm
   * with every input `.drv` path replaced by that input's hash modulo. Memoized when `drvPath` is given.
   */
  hashModulo(drv: Derivation, drvPath?: string): Buffer {
    if (drvPath !== undefined) {
      const hit = this.lookup(drvPath);
      if (hit !== undefined) return Buffer.from(hit, 'hex');
    }
    const hex = this.moduloHex(drv);
    if (drvPath !== undefined) this.memo.set(drvPath, hex);
    return Buffer.from(hex, 'hex');
  }

  /** SHA-256 of the masked modulo text, from which input-addressed output paths derive. */
  maskedHash(drv: Derivation): Buffer {
    return sha256(serializeDerivation(drv, { maskOutputs: true, replaceInputDrv: this.replacer }));
  }

  /** Maps an input `.drv` path to its modulo hex, for `SerializeOptions.replaceInputDrv`. */
  readonly replacer = (drvPath: string): string => this.hashModuloHexOfPath(drvPath);

  private moduloHex(drv: Derivation): string {
    return isFixedOutput(drv)
      ? fixedOutputModuloHex(drv.outputs['out']!)
      : sha256Hex(serializeDerivation(drv, { replaceInputDrv: this.replacer }));
  }
}

/** A derivation with its output paths filled in, ready to be written to the store. */
export interface FinalizedDerivation {
  /** Derivation name (the `.drv` path's name without `.drv`). */
  name: string;
  drv: Derivation;
  drvPath: string;
  /** The exact bytes of the `.drv` file (ASCII/UTF-8 text). */
  text: string;
  /** The unmasked hash modulo, already recorded in the hasher under `drvPath`. */
  hashModulo: Buffer;
  /** `hashModulo` in lower-case hex, when kept that way. */
  readonly hashModuloHex?: string;
  /** The `.drv` file's references (`derivationReferences(drv)`), when already computed. */
  readonly references?: readonly string[];
  /**
   * What writing and walking the graph need without `drv` (which lowering does not keep, so
   * it is parsed back from `text` when first asked for): output names in declaration order
   * with their paths, input derivation paths (in insertion order, or sorted when lowering made
   * them with finalizeKnownInputs), and the input sources.
   */
  readonly outputNames?: readonly string[];
  /**
   * `text` as bytes, when kept that way (writing uses them as they are). When lowering kept no
   * text (nothing took the bytes as they were printed), the first read prints the derivation
   * again from its package, and keeps the bytes from then on.
   */
  readonly bytes?: Uint8Array | undefined;
  /** SHA-256 (hex) of `text`, when hashing computed it (writing reuses it for the content address). */
  readonly textSha256Hex?: string | undefined;
  readonly outputPaths?: readonly string[];
  readonly inputDrvPaths?: readonly string[];
  readonly inputSrcs?: readonly string[];
}

const FIXED_ALGO_RE = /^(r:)?(md5|sha1|sha256|sha512)$/;
const SYSTEM_FORBIDDEN = /["\\\x00-\x1f\x7f]/;

/** The systems found valid already (one or two in a run): each is checked once. */
const checkedSystems = new Set<string>();

/**
 * The problems of a derivation's name, output names and system (the checks both shape checks
 * make), added to `problems` (made when there is one); returns the list, or undefined.
 */
function namingProblems(name: string, outputNames: readonly string[], system: string, problems?: string[]): string[] | undefined {
  const nameProblem = validateDrvName(name);
  if (nameProblem) (problems ??= []).push(`derivation name: ${nameProblem}`);
  // As in Nix: a derivation named `x.drv` would have an output path that looks like a .drv file.
  if (name.endsWith('.drv')) (problems ??= []).push('derivation names may not end in `.drv`; drop the suffix');
  if (outputNames.length === 0) (problems ??= []).push('it has no outputs; declare at least `out`');
  for (let i = 0; i < outputNames.length; i++) {
    const o = outputNames[i]!;
    if (o === 'drv') (problems ??= []).push('output name `drv` is reserved by Nix; rename the output');
    // The path of `out` has the derivation's name: valid when `name.drv` is, unless the name is empty or starts with `.`.
    const p = o === 'out' && nameProblem === undefined && name.length > 0 && name.charCodeAt(0) !== 0x2e ? undefined : validateStoreName(outputPathName(name, o));
    if (p) (problems ??= []).push(`output \`${o}\`: ${p}`);
  }
  if (!checkedSystems.has(system)) {
    if (SYSTEM_FORBIDDEN.test(system)) {
      (problems ??= []).push(`system \`${JSON.stringify(system)}\` contains a quote, backslash or control character, which Nix writes unescaped; use a plain system name like x86_64-linux`);
    } else checkedSystems.add(system);
  }
  return problems;
}

function checkShape(partial: Derivation, name: string, hasher: DerivationHasher): void {
  const storeDir = hasher.storeDir;
  const problems: string[] = [];
  namingProblems(name, Object.keys(partial.outputs), partial.system, problems);
  for (const path of Object.keys(partial.inputDrvs)) {
    if (!path.endsWith('.drv')) problems.push(`input derivation \`${path}\` is not a .drv path`);
    else if (!hasher.has(path)) checkStorePath(path, storeDir, 'input derivation', problems);
    if (partial.inputDrvs[path]!.length === 0) problems.push(`input derivation \`${path}\` lists no outputs; name the outputs used`);
  }
  for (const path of partial.inputSrcs) if (!hasher.checkedSources.has(path)) checkStorePath(path, storeDir, 'input source', problems);
  if (problems.length > 0) {
    throw new TsdslError(`derivation \`${name}\` is invalid: ${problems.join('; ')}`);
  }
  // The same few sources (builder scripts) recur in thousands of derivations: check each once.
  for (const path of partial.inputSrcs) hasher.checkedSources.add(path);
}

/**
 * `checkShape` for `finalizeKnownInputs`: the inputs were finalized (so checked) already. Lowering
 * checks every derivation: a valid one makes nothing.
 */
function checkKnownShape(spec: KnownInputsDerivation, name: string, hasher: DerivationHasher): void {
  let problems = namingProblems(name, spec.outputs, spec.system);
  const inputs = spec.inputs;
  for (let i = 0; i < inputs.length; i++) {
    if (inputs[i]!.outputNames.length === 0) (problems ??= []).push(`input derivation \`${inputs[i]!.drvPath}\` lists no outputs; name the outputs used`);
  }
  const srcs = spec.inputSrcs;
  const checked = hasher.checkedSources;
  for (let i = 0; i < srcs.length; i++) if (!checked.has(srcs[i]!)) checkStorePath(srcs[i]!, hasher.storeDir, 'input source', (problems ??= []));
  if (problems !== undefined && problems.length > 0) throw new TsdslError(`derivation \`${name}\` is invalid: ${problems.join('; ')}`);
  for (let i = 0; i < srcs.length; i++) checked.add(srcs[i]!);
}

function checkStorePath(path: string, storeDir: string, what: string, problems: string[]): void {
  try {
    parseStorePath(path, storeDir);
  } catch (e) {
    problems.push(`${what}: ${(e as Error).message}`);
  }
}

/** Copies a record into one without a prototype, so keys like `__proto__` stay plain data. */
function copyRecord<T>(record: Record<string, T>): Record<string, T> {
  const out = nullRecord<T>();
  for (const k of Object.keys(record)) out[k] = record[k]!;
  return out;
}

/** Normalises a fixed output's hash to lower-case hex, accepting any notation `parseHash` reads. */
function normaliseFixedOutput(name: string, out: DerivationOutput): { hashAlgo: string; hash: string; algo: HashAlgo; recursive: boolean; digest: Buffer } {
  const m = FIXED_ALGO_RE.exec(out.hashAlgo);
  if (!m) {
    throw new TsdslError(`derivation \`${name}\`: fixed output hash algorithm \`${out.hashAlgo}\` is not one of md5, sha1, sha256, sha512 (prefixed with \`r:\` for recursive)`);
  }
  const algo = m[2] as HashAlgo;
  const digest = out.hash.length === HASH_SIZES[algo] * 2 && /^[0-9a-f]+$/.test(out.hash)
    ? Buffer.from(out.hash, 'hex')
    : parseHash(out.hash, algo).digest;
  return { hashAlgo: out.hashAlgo, hash: digest.toString('hex'), algo, recursive: m[1] !== undefined, digest };
}

/** Sorts strings in place in Nix's (UTF-8 byte) order: plain `sort()` unless a surrogate could make UTF-16 order differ. */
function sortNix(xs: string[]): string[] {
  for (let i = 0; i < xs.length; i++) if (SURROGATE.test(xs[i]!)) return xs.sort(compareStrings);
  if (xs.length > 24) return xs.sort();
  // Insertion sort: the lists here are short, and Array#sort allocates work space per call.
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i]!;
    let j = i - 1;
    while (j >= 0 && xs[j]! > x) {
      xs[j + 1] = xs[j]!;
      j--;
    }
    xs[j + 1] = x;
  }
  return xs;
}

const SURROGATE = /[\ud800-\udfff]/;

/** True when `xs` is strictly increasing in Nix's order (so already sorted and without duplicates). */
function strictlySorted(xs: readonly string[]): boolean {
  for (let i = 1; i < xs.length; i++) if (compareStrings(xs[i - 1]!, xs[i]!) >= 0) return false;
  return true;
}

/** The union of two strictly increasing lists of store paths (ASCII), in order. */
function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x < y) (out.push(x), i++);
    else if (y < x) (out.push(y), j++);
    else (out.push(x), i++, j++);
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/** A `.drv` file's references: the union of its input derivations and sources (each strictly increasing). */
function mergedReferences(drvs: readonly string[], srcs: readonly string[]): readonly string[] {
  return srcs.length === 0 ? drvs : drvs.length === 0 ? srcs : mergeSorted(drvs, srcs);
}

/** Sorted, de-duplicated copy of a list (or the list itself when `reuse` and it already is). */
function sortedUnique(xs: readonly string[], reuse: boolean): readonly string[] {
  if (strictlySorted(xs)) return reuse ? xs : xs.slice();
  return sortNix([...new Set(xs)]);
}

const OUT_LIST = '["out"]';

/** The length of `outputList(outs)` (ASCII names). */
function outputListLength(outs: readonly string[]): number {
  if (outs.length === 1) return outs[0]!.length + 4;
  let n = outs.length + 1;
  for (let i = 0; i < outs.length; i++) n += outs[i]!.length + 2;
  return n;
}

/** `["a","b"]` for a list of output names (the common `["out"]` without work). */
function outputList(outs: readonly string[]): string {
  return outs.length === 1 && outs[0] === 'out' ? OUT_LIST : stringList(outs, quoteOutputName);
}

/**
 * The input-derivation table with each `.drv` path replaced by its hash modulo (hex), sorted
 * by that key; inputs with the same key have their output lists merged, as Nix 2.8 does.
 */
function moduloInputsText(inputs: readonly KnownInput[]): string {
  if (inputs.length === 0) return '[]';
  const entries = byModulo(inputs);
  let out = '[';
  for (let i = 0; i < entries.length; i++) {
    const key = entries[i]!.hashModuloHex;
    let outs = entries[i]!.outputNames;
    while (i + 1 < entries.length && entries[i + 1]!.hashModuloHex === key) outs = sortNix([...new Set([...outs, ...entries[++i]!.outputNames])]);
    if (out.length > 1) out += ',';
    out += '(' + quotePath(key) + ',' + outputList(outs) + ')';
  }
  return out + ']';
}

/**
 * Sorts `entries` in place by `compare`: insertion sort for the short lists here (Array#sort
 * allocates work space per call), Array#sort past 24 entries.
 */
function sortShort<T>(entries: T[], compare: (a: T, b: T) => number): T[] {
  if (entries.length > 24) return entries.sort(compare);
  for (let i = 1; i < entries.length; i++) {
    const e = entries[i]!;
    let j = i - 1;
    while (j >= 0 && compare(entries[j]!, e) > 0) {
      entries[j + 1] = entries[j]!;
      j--;
    }
    entries[j + 1] = e;
  }
  return entries;
}

/** Orders inputs by `.drv` path (ASCII: UTF-16 order is byte order). */
const byDrvPath = (a: KnownInput, b: KnownInput): number => (a.drvPath < b.drvPath ? -1 : a.drvPath > b.drvPath ? 1 : 0);

/** The inputs sorted by hash modulo, in `into` (a new list by default). */
function byModulo(inputs: readonly KnownInput[], hasher?: DerivationHasher, into: KnownInput[] = []): KnownInput[] {
  into.length = inputs.length;
  for (let i = 0; i < inputs.length; i++) into[i] = inputs[i]!;
  sortingHasher = hasher;
  return sortShort(into, bySortingModulo);
}

// The hasher byModulo sorts with, read by one comparator (rather than a closure made per call).
let sortingHasher: DerivationHasher | undefined;
const bySortingModulo = (a: KnownInput, b: KnownInput): number => compareModulo(a, b, sortingHasher);

// printTextsInto's inputs by hash modulo, and the env's order: lists reused by every call (it
// does not call itself; the first holds the last derivation's inputs until the next).
const BY_MODULO: KnownInput[] = [];
const ENV_ORDER: number[] = [];

/**
 * Orders two inputs by hash modulo: from the hex digits in `hasher`'s print buffer when both
 * were printed there (no string is made), else by their strings.
 */
function compareModulo(a: KnownInput, b: KnownInput, hasher: DerivationHasher | undefined): number {
  if (hasher !== undefined && a instanceof Finalized && b instanceof Finalized && a.printedBy === hasher && b.printedBy === hasher) {
    const buf = hasher.printBuffer;
    // The digits start after `("`; hashes mostly differ in their first one.
    for (let i = a.moduloEntryAt + 2, j = b.moduloEntryAt + 2, end = i + 64; i < end; i++, j++) {
      const d = buf[i]! - buf[j]!;
      if (d !== 0) return d;
    }
    return 0;
  }
  const x = a.hashModuloHex;
  const y = b.hashModuloHex;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** What printing an input-addressed derivation yields: its text and the hashes made on the way. */
interface PrintedTexts {
  /** The text, or where its bytes were kept (see `keepBytes`). */
  text?: string | undefined;
  kept?: KeptBytes | undefined;
  /** SHA-256 (hex) of `text`, when computed on the way. */
  textHex?: string | undefined;
  moduloHex: string;
  /**
   * The output paths, in sorted output-name order (printTextsInto; printTexts sets them in the
   * records): a list printTextsInto reuses, to be copied by whoever keeps it.
   */
  paths?: readonly string[] | undefined;
}

type Base = { inputSrcs: readonly string[]; system: string; builder: string; args: readonly string[] };

/**
 * Prints the masked text (hashed into the output paths, which it fills in), the modulo text
 * (hashed into the hash modulo) and the final text of an input-addressed derivation, with
 * strings: the general form, for any characters.
 */
function printTexts(
  name: string,
  outputs: Record<string, DerivationOutput>,
  env: Record<string, string>,
  inputs: readonly KnownInput[],
  base: Base,
  storeDir: string,
): PrintedTexts {
  const outputNames = Object.keys(outputs);
  let moduloHex: string;
  let text: string;
  // The three texts (masked, modulo, final) share everything but the outputs, the
  // input-derivation table and the env vars named after outputs: print the rest once.
  const outs = sortNix([...outputNames]);
  const middle =
    ',' + stringList(base.inputSrcs, quotePath) + ',' + quoteRaw(base.system, 'system') + ',' + quoteATermString(base.builder) + ',' +
    stringList(base.args, quoteATermString) + ',';
  // Env entries between the output vars (which sort among them), with their separators.
  const keys = sortNix(Object.keys(env));
  const segments: string[] = [];
  let segment = '';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (i > 0) segment += ',';
    if (outputs[k] !== undefined) {
      segments.push(segment);
      segment = '';
    } else segment += '(' + quoteATermString(k) + ',' + quoteATermString(env[k]!) + ')';
  }
  segments.push(segment);
  const quotedOuts = outs.map(quoteOutputName);
  const modulo = moduloInputsText(inputs);
  let maskedOutputs = '[';
  let maskedEnv = '[' + segments[0]!;
  for (let i = 0; i < outs.length; i++) {
    maskedOutputs += (i > 0 ? ',(' : '(') + quotedOuts[i] + ',"","","")';
    maskedEnv += '(' + quoteATermString(outs[i]!) + ',"")' + segments[i + 1]!;
  }
  maskedOutputs += ']';
  maskedEnv += ']';
  const maskedHex = sha256Hex('Derive(' + maskedOutputs + ',' + modulo + middle + maskedEnv + ')');
  let finalOutputs = '[';
  let finalEnv = '[' + segments[0]!;
  for (let i = 0; i < outs.length; i++) {
    const o = outs[i]!;
    const path = makeStorePathFromHex('output:' + o, maskedHex, outputPathName(name, o), storeDir);
    outputs[o]!.path = path;
    env[o] = path;
    finalOutputs += (i > 0 ? ',(' : '(') + quotedOuts[i] + ',' + quotePath(path) + ',"","")';
    finalEnv += '(' + quoteATermString(o) + ',' + quoteATermString(path) + ')' + segments[i + 1]!;
  }
  finalOutputs += ']';
  finalEnv += ']';
  moduloHex = sha256Hex('Derive(' + finalOutputs + ',' + modulo + middle + finalEnv + ')');
  let real = '[';
  for (let i = 0; i < inputs.length; i++) {
    real += (i > 0 ? ',(' : '(') + quotePath(inputs[i]!.drvPath) + ',' + outputList(inputs[i]!.outputNames) + ')';
  }
  text = 'Derive(' + finalOutputs + ',' + real + ']' + middle + finalEnv + ')';
  return { text, moduloHex };
}

// ---------------------------------------------------------------------------------------
// Printing into bytes

// The texts of a derivation are printed straight into this buffer (reused, grown as needed),
// hashed from it, and the final one read back as a string: no intermediate strings. Only
// ASCII is handled here (every derivation tsdsl makes); `printTextsAscii` returns undefined
// for anything else and `printTexts` does the work with strings.
let out: Buffer = Buffer.allocUnsafe(1 << 16);
let pos = 0;
let ascii = true;

/** The print buffer's size after its first growth (see DerivationHasher.printBuffer). */
const LARGE = 16 << 20;

function reserve(n: number): void {
  if (pos + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(out.length < LARGE ? LARGE : out.length * 2, pos + n));
  out.copy(bigger, 0, 0, pos);
  out = bigger;
}

// Strings of LONG characters or more are written by the buffer's native UTF-8 writer, after
// native searches for the characters ATerm escapes: a loop over the characters costs several
// times as much on long strings (paths, lists of paths). The byte count it returns tells
// whether the string was ASCII. Shorter strings are copied in a loop, cheaper than the calls.
const LONG = 24;

/** Appends `s` (which needs no escapes) natively, wrapped in `quote` (a byte, or none). */
function putNative(s: string, quote?: number): void {
  reserve(3 * s.length + 2);
  if (quote !== undefined) out[pos++] = quote;
  const written = utf8Write.call(out, s, pos, out.length - pos);
  pos += written;
  if (written !== s.length) ascii = false;
  if (quote !== undefined) out[pos++] = quote;
}

/** Whether `s` has a character the ATerm form escapes. */
function hasEscapes(s: string): boolean {
  return s.indexOf('"') !== -1 || s.indexOf('\\') !== -1 || s.indexOf('\n') !== -1 || s.indexOf('\r') !== -1 || s.indexOf('\t') !== -1;
}

// The single characters printed between the strings.
const COMMA = 0x2c;
const LPAREN = 0x28;
const RPAREN = 0x29;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/** Appends one ASCII character (a code): smaller, where it is written forty times, than `put`'s loop. */
function byte(c: number): void {
  reserve(1);
  out[pos++] = c;
}

/** Appends `s` as is. */
function put(s: string): void {
  const n = s.length;
  if (n >= LONG) return putNative(s);
  reserve(n);
  if (copyChars(s, out, pos) > 0x7f) ascii = false;
  pos += n;
}

/** Appends `s` quoted with the ATerm escapes. */
function putQuoted(s: string): void {
  const n = s.length;
  if (n >= LONG && !hasEscapes(s)) return putNative(s, 0x22);
  reserve(2 * n + 2);
  const o = out;
  let p = pos;
  let high = 0;
  o[p++] = 0x22;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      o[p++] = 0x5c;
      o[p++] = c;
    } else if (c === 0x0a || c === 0x0d || c === 0x09) {
      o[p++] = 0x5c;
      o[p++] = c === 0x0a ? 0x6e : c === 0x0d ? 0x72 : 0x74;
    } else {
      high |= c;
      o[p++] = c;
    }
  }
  o[p++] = 0x22;
  pos = p;
  if (high > 0x7f) ascii = false;
}

/** Appends `"s"` for a field Nix writes unescaped (paths, output names), refusing `"` and `\`. */
function putRaw(s: string, what: string): void {
  const n = s.length;
  if (n >= LONG) {
    if (s.indexOf('"') !== -1 || s.indexOf('\\') !== -1) quoteRaw(s, what);
    return putNative(s, 0x22);
  }
  reserve(n + 2);
  const o = out;
  let p = pos;
  let high = 0;
  o[p++] = 0x22;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) quoteRaw(s, what);
    high |= c;
    o[p++] = c;
  }
  o[p++] = 0x22;
  pos = p;
  if (high > 0x7f) ascii = false;
}

/** Appends bytes printed earlier in the buffer, [from, to). */
function putAgain(from: number, to: number): void {
  const n = to - from;
  reserve(n);
  if (n > 24) {
    out.copyWithin(pos, from, to);
    pos += n;
    return;
  }
  // Shorter ranges copy faster in a loop than through the builtin's call (about 30 ns here).
  const o = out;
  let p = pos;
  for (let i = from; i < to; i++) o[p++] = o[i]!;
  pos = p;
}

function putOutputList(outs: readonly string[]): void {
  if (outs.length === 1 && outs[0] === 'out') return put(OUT_LIST);
  byte(LBRACKET);
  for (let i = 0; i < outs.length; i++) {
    if (i > 0) byte(COMMA);
    putRaw(outs[i]!, 'output name');
  }
  byte(RBRACKET);
}

// A plain view: Buffer#subarray costs several times as much (it makes a Buffer).
const sha256OfBytes = (from: number, to: number): string => sha256Hex(new Uint8Array(out.buffer, out.byteOffset + from, to - from));

// Printed .drv texts are kept as bytes in shared chunks outside the JS heap, not as strings:
// a whole graph's texts (tens of MB) then cost the collector nothing to copy or mark. A chunk
// is freed when no derivation printed into it is left.
const CHUNK = 1 << 20;
let chunk = Buffer.allocUnsafeSlow(CHUNK);
let chunkPos = 0;

/** Where a printed .drv text is kept: bytes [start, end) of a chunk (or of a buffer of its own), with their SHA-256. */
class KeptBytes {
  constructor(
    readonly chunk: Buffer,
    readonly start: number,
    readonly end: number,
    /** SHA-256 (hex) of the bytes (writing them uses it for their content address). */
    readonly sha256Hex: string,
  ) {}
}

/** Copies the buffer's bytes [from, to), whose SHA-256 is `sha256Hex`, into the current chunk. */
function keepBytes(from: number, to: number, sha256Hex: string): KeptBytes {
  const n = to - from;
  if (chunkPos + n > chunk.length) {
    chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK, n));
    chunkPos = 0;
  }
  // TypedArray#set from a view: Buffer#copy's checks and wrapper cost more than the copy.
  chunk.set(new Uint8Array(out.buffer, out.byteOffset + from, n), chunkPos);
  const start = chunkPos;
  chunkPos += n;
  return new KeptBytes(chunk, start, chunkPos, sha256Hex);
}

/**
 * How printed .drv bytes are kept: in the shared chunks (`keepBytes`), in a buffer of their own
 * (a text printed again, asked for once), or not at all (its hashes are what is needed).
 */
type Keep = 'chunk' | 'copy' | 'none';

/** `printTexts` into bytes, kept as `keep` says; undefined when a string is not ASCII (then printTexts does it). */
function printTextsAscii(
  name: string,
  outs: readonly string[],
  env: EnvVars,
  inputs: readonly KnownInput[],
  base: Base,
  hasher: DerivationHasher,
  keep: Keep = 'chunk',
): PrintedTexts | undefined {
  const storeDir = hasher.storeDir;
  // Printed after the hasher's entries, so those can be copied with copyWithin.
  out = hasher.printBuffer;
  pos = hasher.printedEnd;
  ascii = true;
  const r = printTextsInto(name, outs, env, inputs, base, hasher, storeDir, keep);
  hasher.printBuffer = out;
  return r;
}

/**
 * Where printTextsInto's output vars start and end in the masked text, the output paths, and
 * what it returns: reused by every call (read at once by its caller), not made per derivation.
 */
const CUTS: number[] = [];
const PATHS: string[] = [];
const PRINTED: PrintedTexts = { text: undefined, kept: undefined, textHex: undefined, moduloHex: '', paths: undefined };

/**
 * Prints the three texts. `outs` are the output names, sorted; `env` holds every other variable
 * (the output vars are printed from `outs`: blank, then their paths, which the result gives in
 * `outs`'s order).
 *
 * The masked text is printed first, in place; the modulo text copies it but for the outputs
 * and the output vars (the input table, sources, system, builder, args and the env entries
 * between the output vars are contiguous there). The final text has the modulo text's outputs
 * and everything after its input table, with the input table by path in between: when every
 * input's entry is in the buffer, its outputs and input table are written just before the
 * modulo text's tail (over the texts already hashed) and the tail is shared; otherwise the
 * final text is printed after the modulo text, copying both parts.
 */
function printTextsInto(
  name: string,
  outs: readonly string[],
  env: EnvVars,
  inputs: readonly KnownInput[],
  base: Base,
  hasher: DerivationHasher,
  storeDir: string,
  keep: Keep,
): PrintedTexts | undefined {
  // Masked: blank outputs, hashed into the output paths.
  const maskedAt = pos;
  printOutputs(outs, undefined);
  // The input derivations keyed by hash modulo, sorted and merged as Nix does.
  const moduloAt = pos;
  byte(LBRACKET);
  if (inputs.length > 0) {
    const entries = byModulo(inputs, hasher, BY_MODULO);
    for (let i = 0; i < entries.length; i++) {
      const first = entries[i]!;
      let list = first.outputNames;
      while (i + 1 < entries.length && compareModulo(entries[i + 1]!, first, hasher) === 0) list = sortNix([...new Set([...list, ...entries[++i]!.outputNames])]);
      if (i > 0 && pos > moduloAt + 1) byte(COMMA);
      const e = entries[i]!;
      if (list === e.outputNames && e instanceof Finalized && e.printedBy === hasher) putAgain(e.moduloEntryAt, e.entriesEnd);
      else {
        byte(LPAREN);
        putRaw(first.hashModuloHex, 'store path');
        byte(COMMA);
        putOutputList(list);
        byte(RPAREN);
      }
    }
  }
  byte(RBRACKET);
  const moduloEnd = pos;
  // Sources, system, builder and args ...
  put(',[');
  for (let i = 0; i < base.inputSrcs.length; i++) {
    if (i > 0) byte(COMMA);
    putRaw(base.inputSrcs[i]!, 'store path');
  }
  put('],');
  putRaw(base.system, 'system');
  byte(COMMA);
  putQuoted(base.builder);
  put(',[');
  for (let i = 0; i < base.args.length; i++) {
    if (i > 0) byte(COMMA);
    putQuoted(base.args[i]!);
  }
  put('],[');
  // ... and the env, the output vars (which sort among the others) blank; `cuts` holds where
  // each output var's entry starts and ends (a list reused by every call: no closure or list
  // is made per derivation).
  const keys = env.keys;
  const values = env.values;
  const order = sortedOrder(keys, env.size, ENV_ORDER);
  const cuts = CUTS;
  const envAt = pos;
  let c = 0;
  let j = 0;
  for (let i = 0; i <= order.length; i++) {
    const k = i < order.length ? keys[order[i]!]! : undefined;
    // The output vars that sort before `k` (after the last key: those left), blank.
    for (; j < outs.length && (k === undefined || outs[j]! < k); j++) {
      if (pos !== envAt) byte(COMMA);
      cuts[c++] = pos;
      byte(LPAREN);
      putQuoted(outs[j]!);
      put(',"")');
      cuts[c++] = pos;
    }
    if (k === undefined) break;
    if (pos !== envAt) byte(COMMA);
    byte(LPAREN);
    putQuoted(k);
    byte(COMMA);
    putQuoted(values[order[i]!]!);
    byte(RPAREN);
  }
  put('])');
  const maskedEnd = pos;
  if (!ascii) return undefined;
  const maskedHex = sha256OfBytes(maskedAt, maskedEnd);
  // Output names were checked with the derivation (checkShape).
  const paths = PATHS;
  paths.length = outs.length;
  for (let k = 0; k < outs.length; k++) paths[k] = storePathOfCheckedName(outs[k] === 'out' ? 'output:out' : 'output:' + outs[k], maskedHex, outputPathName(name, outs[k]!), storeDir);

  // Modulo: the hash that replaces this derivation's path in its users' modulo texts.
  const moduloTextAt = pos;
  printOutputs(outs, paths);
  const outputsEnd = pos;
  const tailAt = outputsEnd + (moduloEnd - moduloAt);
  let from = moduloAt;
  for (let k = 0; k < outs.length; k++) {
    putAgain(from, cuts[2 * k]!);
    byte(LPAREN);
    putQuoted(outs[k]!);
    byte(COMMA);
    putQuoted(paths[k]!);
    byte(RPAREN);
    from = cuts[2 * k + 1]!;
  }
  putAgain(from, maskedEnd);
  const tailEnd = pos;
  const moduloHex = sha256OfBytes(moduloTextAt, tailEnd);

  // Final: the .drv file's bytes, with the input derivations by path. They end as the modulo
  // text does: when every input's entry is in the buffer, the head (outputs and inputs) is
  // written just before the modulo text's tail, over what is no longer needed, and the tail
  // (most of the text) is not copied again.
  let headLength = outputsEnd - moduloTextAt + 2 + Math.max(inputs.length - 1, 0);
  for (let i = 0; i < inputs.length && headLength >= 0; i++) {
    const e = inputs[i]!;
    headLength = e instanceof Finalized && e.printedBy === hasher ? headLength + e.moduloEntryAt - e.entriesAt : -1;
  }
  const shared = headLength >= 0 && tailAt - headLength >= maskedAt;
  const at = shared ? tailAt - headLength : pos;
  if (shared) {
    out.copyWithin(at, moduloTextAt, outputsEnd);
    pos = at + (outputsEnd - moduloTextAt);
  } else putAgain(moduloTextAt, outputsEnd);
  byte(LBRACKET);
  for (let i = 0; i < inputs.length; i++) {
    if (i > 0) byte(COMMA);
    const e = inputs[i]!;
    if (e instanceof Finalized && e.printedBy === hasher) putAgain(e.entriesAt, e.moduloEntryAt);
    else {
      byte(LPAREN);
      putRaw(e.drvPath, 'store path');
      byte(COMMA);
      putOutputList(e.outputNames);
      byte(RPAREN);
    }
  }
  byte(RBRACKET);
  if (shared) pos = tailEnd;
  else putAgain(tailAt, tailEnd);
  if (!ascii) return undefined;
  const printed = PRINTED;
  printed.textHex = sha256OfBytes(at, pos);
  printed.moduloHex = moduloHex;
  printed.paths = paths;
  printed.kept = keep === 'none' ? undefined : keep === 'chunk' ? keepBytes(at, pos, printed.textHex) : new KeptBytes(Buffer.from(out.subarray(at, pos)), 0, pos - at, printed.textHex);
  return printed;
}

/** `Derive([` and the outputs, blank or with their paths, and the `,` after them. */
function printOutputs(outs: readonly string[], paths: readonly string[] | undefined): void {
  put('Derive([');
  for (let j = 0; j < outs.length; j++) {
    put(j > 0 ? ',(' : '(');
    putRaw(outs[j]!, 'output name');
    if (paths) {
      byte(COMMA);
      putRaw(paths[j]!, 'store path');
      put(',"","")');
    } else put(',"","","")');
  }
  put('],');
}

/**
 * The indices of the first `n` of `keys` in Nix's order of the keys (UTF-16 order: only ASCII
 * keys are printed this way), in `order`. Insertion sort for the short lists most derivations have.
 */
function sortedOrder(keys: readonly string[], n: number, order: number[]): number[] {
  order.length = n;
  if (n > 24) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  }
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[order[j]!]! > k) {
      order[j + 1] = order[j]!;
      j--;
    }
    order[j + 1] = i;
  }
  return order;
}

/**
 * A finalized derivation; the hash modulo is kept as hex and made a Buffer only when asked for.
 * Lowering keeps tens of thousands of these, so for its (owned) derivations the Derivation
 * object is not kept: its records are most of the memory the collector has to trace, and
 * `text` holds all of it. `drv` parses it back once when something asks (the env then lists
 * its variables in sorted order, as the `.drv` file does).
 */
class Finalized implements FinalizedDerivation {
  // Set when made from a Derivation, or once parsed from the text.
  #drv: Derivation | undefined;
  // The text as a string; or its bytes: where in a shared chunk (see keepBytes), or a buffer of
  // their own (printed again); or who prints them again, from #key (when lowering kept only
  // the paths and hashes). One field for the three, and no closure: tens of thousands are kept.
  #held: string | KeptBytes | Buffer | Reprinter;
  #key: unknown;
  // Undefined when lowering kept neither text nor input paths: printed again with the text.
  #inputDrvPaths: readonly string[] | undefined;
  // The hash modulo in hex; undefined once printEntries printed it into the hasher's buffer,
  // where it is read from (a string less for each of tens of thousands of derivations).
  #moduloHex: string | undefined;
  // The output paths: the path itself for a single output (no array kept).
  readonly #paths: string | readonly string[];

  constructor(
    drv: Derivation | undefined,
    readonly drvPath: string,
    text: string | KeptBytes | Reprinter,
    hashModuloHex: string,
    readonly outputNames: readonly string[],
    outputPaths: readonly string[],
    inputDrvPaths: readonly string[] | undefined,
    readonly inputSrcs: readonly string[],
    /** What `text`, a reprinter, prints the derivation again from. */
    key?: unknown,
  ) {
    this.#drv = drv;
    this.#inputDrvPaths = inputDrvPaths;
    this.#moduloHex = hashModuloHex;
    this.#paths = outputPaths.length === 1 ? outputPaths[0]! : outputPaths;
    this.#held = text;
    if (typeof text !== 'string' && !(text instanceof KeptBytes)) this.#key = key;
  }

  /** The derivation's name: the `.drv` path's, after the store dir and hash, without `.drv` (not kept). */
  get name(): string {
    const path = this.drvPath;
    return path.slice(path.lastIndexOf('/') + 34, -4);
  }

  /**
   * The `.drv` file's references: input derivations and sources, sorted (from the derivation
   * when there is one: `finalizeDerivation` keeps its input paths in the order given).
   */
  get references(): readonly string[] {
    return this.#drv !== undefined ? derivationReferences(this.#drv) : mergedReferences(this.inputDrvPaths, this.inputSrcs);
  }

  /** SHA-256 (hex) of the text, when its bytes were kept as printed. */
  get textSha256Hex(): string | undefined {
    const held = this.#held;
    return held instanceof KeptBytes ? held.sha256Hex : undefined;
  }

  /** Decoded on each use (not kept, so as not to grow the heap again). */
  get text(): string {
    const held = this.#held;
    if (typeof held === 'string') return held;
    if (held instanceof KeptBytes) return held.chunk.toString('utf8', held.start, held.end);
    if (held instanceof Uint8Array) return held.toString('utf8');
    return this.#printAgain(held).toString('utf8');
  }

  /** Printed again the first time when lowering kept none (then kept: they are asked for again). */
  get bytes(): Uint8Array | undefined {
    const held = this.#held;
    if (typeof held === 'string') return undefined;
    if (held instanceof KeptBytes) return held.chunk.subarray(held.start, held.end);
    if (held instanceof Uint8Array) return held;
    return this.#printAgain(held);
  }

  /**
   * The input derivations' paths, sorted (in the order given, for one made by
   * `finalizeDerivation`). Printed again with the text when lowering kept neither.
   */
  get inputDrvPaths(): readonly string[] {
    const paths = this.#inputDrvPaths;
    if (paths !== undefined) return paths;
    this.#printAgain(this.#held as Reprinter);
    return this.#inputDrvPaths!;
  }

  /** Has the text and input paths printed again, and keeps them (they are asked for again). */
  #printAgain(by: Reprinter): Buffer {
    const again = by.reprint(this.#key);
    this.#held = again.bytes;
    this.#key = undefined;
    this.#inputDrvPaths ??= again.inputDrvPaths;
    return again.bytes;
  }

  get drv(): Derivation {
    return (this.#drv ??= parseDerivation(this.text));
  }

  get hashModulo(): Buffer {
    return Buffer.from(this.hashModuloHex, 'hex');
  }

  get hashModuloHex(): string {
    // After `("`, the 64 hex digits of the entry by hash modulo.
    return this.#moduloHex ?? latin1Slice.call(this.printedBy!.printBuffer, this.moduloEntryAt + 2, this.moduloEntryAt + 66);
  }

  /** The output paths, in the order of `outputNames` (a new array for a single output). */
  get outputPaths(): readonly string[] {
    const paths = this.#paths;
    return typeof paths === 'string' ? [paths] : paths;
  }

  /** The path of output `i` (of `outputNames`). */
  outputPath(i: number): string {
    const paths = this.#paths;
    return typeof paths === 'string' ? paths : paths[i]!;
  }

  /** The hasher whose print buffer holds this derivation's input-table entries. */
  printedBy: DerivationHasher | undefined = undefined;
  /**
   * Where: the entry by path at [entriesAt, moduloEntryAt), by hash modulo at [moduloEntryAt,
   * entriesEnd). Only the start is kept: the entries' lengths follow from the path's and the
   * output list's (ASCII, or they are not printed there).
   */
  entriesAt = 0;

  get moduloEntryAt(): number {
    // `("` path `",` list `)`
    return this.entriesAt + this.drvPath.length + outputListLength(this.outputNames) + 5;
  }

  get entriesEnd(): number {
    // The entry by path (above), then `("` 64 hex digits `",` list `)`: the list's length once.
    return this.entriesAt + this.drvPath.length + 2 * outputListLength(this.outputNames) + 74;
  }

  /**
   * Prints this derivation's two input-table entries (with all its outputs) once into the
   * hasher's print buffer, from which its users' texts copy them. Only for output names in
   * order (as every printed list is); others are printed at each use.
   */
  printEntries(hasher: DerivationHasher): this {
    const names = this.outputNames;
    if (this.printedBy !== undefined || (names.length > 1 && !strictlySorted(names))) return this;
    out = hasher.printBuffer;
    pos = hasher.printedEnd;
    ascii = true;
    this.entriesAt = pos;
    byte(LPAREN);
    putRaw(this.drvPath, 'store path');
    byte(COMMA);
    putOutputList(names);
    byte(RPAREN);
    byte(LPAREN);
    putRaw(this.#moduloHex!, 'store path');
    byte(COMMA);
    putOutputList(names);
    byte(RPAREN);
    hasher.printBuffer = out;
    // Store paths, hex and output names are ASCII; anything else is printed at each use.
    if (ascii) {
      hasher.printedEnd = pos;
      this.printedBy = hasher;
      this.#moduloHex = undefined;
    }
    return this;
  }
}

/**
 * Turns a partial derivation (output paths empty or stale) into the final one: computes
 * every output path (fixed-output: the content-addressed path of the declared hash;
 * otherwise `output:<id>` over the masked modulo text), stores each path in the output and
 * in the env var named after it (Nix rejects a `.drv` without those), and computes the
 * `.drv` path as a text path referencing the input derivations and sources.
 *
 * The inputs' hash modulo must be known to `hasher` (finalize in dependency order, or give
 * the hasher a resolver); the result's own hash modulo is recorded, so finalizing n
 * derivations does O(n) work. Throws one error listing every problem with the derivation.
 */
export function finalizeDerivation(partial: Derivation, name: string, hasher: DerivationHasher): FinalizedDerivation & KnownInput {
  const storeDir = hasher.storeDir;
  checkShape(partial, name, hasher);
  const outputNames = Object.keys(partial.outputs);
  const env = copyRecord(partial.env);
  const outputs = nullRecord<DerivationOutput>();
  const inputDrvs = nullRecord<readonly string[]>();
  const inputPaths = Object.keys(partial.inputDrvs);
  for (const k of inputPaths) inputDrvs[k] = sortedUnique(partial.inputDrvs[k]!, false);
  const inputDrvPaths = inputPaths.slice();
  sortNix(inputPaths);
  const base = {
    inputDrvs,
    inputSrcs: sortedUnique(partial.inputSrcs, false),
    system: partial.system,
    builder: partial.builder,
    args: [...partial.args],
  };

  const fixed = outputNames.filter((o) => partial.outputs[o]!.hashAlgo !== '' || partial.outputs[o]!.hash !== '');
  let moduloHex: string;
  let text: string | KeptBytes;
  let textHex: string | undefined;
  if (fixed.length > 0) {
    if (outputNames.length !== 1 || outputNames[0] !== 'out') {
      throw new TsdslError(`derivation \`${name}\` has a fixed hash on output${fixed.length > 1 ? 's' : ''} ${fixed.map((o) => `\`${o}\``).join(', ')}; a fixed-output derivation must have exactly one output, \`out\``);
    }
    const declared = partial.outputs['out']!;
    if (declared.hashAlgo === '' || declared.hash === '') {
      throw new TsdslError(`derivation \`${name}\`: output \`out\` has ${declared.hash === '' ? 'a hash algorithm but no hash' : 'a hash but no algorithm'}; give both or neither`);
    }
    const f = normaliseFixedOutput(name, declared);
    const path = makeFixedOutputPath(name, { method: f.recursive ? 'recursive' : 'flat', algo: f.algo, digest: f.digest }, storeDir);
    outputs['out'] = { path, hashAlgo: f.hashAlgo, hash: f.hash };
    env['out'] = path;
    moduloHex = fixedOutputModuloHex(outputs['out']);
    text = serializeDerivation({ ...base, outputs, env });
  } else {
    // The env must hold every output var at hashing time (blanked by masking) and at the end.
    for (const o of outputNames) {
      outputs[o] = { path: '', hashAlgo: '', hash: '' };
      env[o] = '';
    }
    // The input table: each input's hash modulo and sorted output names, by path.
    const inputs: KnownInput[] = new Array(inputPaths.length);
    for (let i = 0; i < inputPaths.length; i++) {
      const path = inputPaths[i]!;
      inputs[i] = { drvPath: path, hashModuloHex: hasher.hashModuloHexOfPath(path), outputNames: inputDrvs[path]! };
    }
    const outs = sortNix(outputNames.slice());
    const vars = new EnvVars();
    for (const k of Object.keys(env)) if (outputs[k] === undefined) vars.add(k, env[k]!);
    const texts = printTextsAscii(name, outs, vars, inputs, base, hasher) ?? printTexts(name, outputs, env, inputs, base, storeDir);
    if (texts.paths) {
      for (let j = 0; j < outs.length; j++) {
        outputs[outs[j]!]!.path = texts.paths[j]!;
        env[outs[j]!] = texts.paths[j]!;
      }
    }
    moduloHex = texts.moduloHex;
    text = texts.text ?? texts.kept!;
    textHex = texts.textHex;
  }

  // References: input derivations and sources, both sorted already.
  const srcs = base.inputSrcs;
  const references = srcs.length === 0 ? inputPaths : inputPaths.length === 0 ? srcs : sortNix([...new Set([...inputPaths, ...srcs])]);
  const drvPath =
    textHex !== undefined ? makeTextPathFromHex(name + '.drv', textHex, references, storeDir) : makeTextPath(name + '.drv', text as string, references, storeDir);
  // Recorded even in a lowerer's hasher: a derivation finalized by path with it need not be one the lowerer keeps.
  hasher.record(drvPath, moduloHex);
  const outputPaths = outputNames.map((o) => outputs[o]!.path);
  return new Finalized({ ...base, outputs, env }, drvPath, text, moduloHex, outputNames, outputPaths, inputDrvPaths, srcs).printEntries(hasher);
}

/** An input derivation finalized earlier with the same hasher (every `FinalizedDerivation` is one). */
export interface KnownInput {
  readonly drvPath: string;
  /** Its hash modulo, lower-case hex. */
  readonly hashModuloHex: string;
  /** The outputs used. */
  readonly outputNames: readonly string[];
}

/**
 * An input-addressed derivation whose input derivations the caller holds as objects, as
 * lowering does: `inputs` replaces the `inputDrvs` table (a path may appear more than once;
 * its output lists are merged). `inputs` and `env` are made for this call and handed over:
 * the inputs are sorted and merged in place, and a variable named after an output is dropped
 * (the output's path is its value). The other lists are not copied.
 */
export interface KnownInputsDerivation {
  readonly outputs: readonly string[];
  readonly inputs: KnownInput[];
  readonly inputSrcs: readonly string[];
  readonly system: string;
  readonly builder: string;
  readonly args: readonly string[];
  readonly env: EnvVars;
}

/**
 * Prints a derivation's bytes again from `key` (what it was made from), when lowering kept
 * none, with the paths of its input derivations, sorted (which it did not keep either).
 */
export interface Reprinter {
  reprint(key: unknown): { bytes: Buffer; inputDrvPaths: readonly string[] };
}

/** The `.drv` paths of a list of inputs: made only where a list is kept or joined. */
function drvPathsOf(inputs: readonly KnownInput[]): string[] {
  const paths: string[] = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) paths[i] = inputs[i]!.drvPath;
  return paths;
}

/**
 * `finalizeDerivation` for lowering: the same derivation, texts and paths, but the inputs
 * come as objects (each finalized with `hasher`), so their hash modulo is read from them
 * instead of looked up by path, and nothing is copied. The result keeps no `Derivation`
 * object (`drv` parses the text back when asked). With `again` a reprinter (and `key`, what it prints from), it keeps
 * no text either: `bytes` asks it to print them again. `'again'` is that second printing (of a
 * derivation finalized before with this hasher): its input-table entries are not printed twice.
 */
export function finalizeKnownInputs(
  spec: KnownInputsDerivation,
  name: string,
  hasher: DerivationHasher,
  again?: Reprinter | 'again',
  key?: unknown,
): FinalizedDerivation & KnownInput {
  const storeDir = hasher.storeDir;
  checkKnownShape(spec, name, hasher);
  const outputNames = spec.outputs;
  const env = spec.env;
  const outs = outputNames.length === 1 ? outputNames : sortNix(outputNames.slice());
  for (let j = 0; j < outs.length; j++) {
    if (j > 0 && outs[j] === outs[j - 1]) throw new TsdslError(`derivation \`${name}\` is invalid: output \`${outs[j]}\` is declared twice`);
    env.delete(outs[j]!);
  }
  // Inputs by path, each path once, output names sorted: the caller's list, in place.
  const inputs = sortShort(spec.inputs, byDrvPath);
  let n = 0;
  for (let i = 0; i < inputs.length; i++) {
    let e = inputs[i]!;
    if (n > 0 && inputs[n - 1]!.drvPath === e.drvPath) {
      const had = inputs[n - 1]!;
      if (had.outputNames !== e.outputNames) inputs[n - 1] = { drvPath: had.drvPath, hashModuloHex: had.hashModuloHex, outputNames: sortNix([...new Set([...had.outputNames, ...e.outputNames])]) };
      continue;
    }
    if (!(e.outputNames.length === 1 || strictlySorted(e.outputNames))) e = { drvPath: e.drvPath, hashModuloHex: e.hashModuloHex, outputNames: sortedUnique(e.outputNames, false) };
    inputs[n++] = e;
  }
  inputs.length = n;
  const base = { inputSrcs: sortedUnique(spec.inputSrcs, true), system: spec.system, builder: spec.builder, args: spec.args };
  const reprint = typeof again === 'object' ? again : undefined;
  let texts = printTextsAscii(name, outs, env, inputs, base, hasher, reprint ? 'none' : again === 'again' ? 'copy' : 'chunk');
  let outputPaths: readonly string[];
  if (texts) {
    // In `outs`' order: the same list when there is one output.
    const printed = texts.paths!;
    outputPaths = outs === outputNames ? printed : outputNames.map((o) => printed[outs.indexOf(o)]!);
  } else {
    // Not ASCII: printed with strings, from records.
    const outputs = nullRecord<DerivationOutput>();
    const vars = nullRecord<string>();
    for (let i = 0; i < env.size; i++) vars[env.keys[i]!] = env.values[i]!;
    for (const o of outs) {
      outputs[o] = { path: '', hashAlgo: '', hash: '' };
      vars[o] = '';
    }
    texts = printTexts(name, outputs, vars, inputs, base, storeDir);
    outputPaths = outputNames.map((o) => outputs[o]!.path);
  }
  const text = texts.text ?? texts.kept ?? reprint!;
  const srcs = base.inputSrcs;
  // The references (input derivations and sources) are written into the path's fingerprint as
  // they are merged; only a name or path that is not ASCII has them merged into a list.
  const drvPath =
    (texts.textHex !== undefined ? storePathOfChecked('text', inputs, srcs, texts.textHex, name, '.drv', storeDir) : undefined) ??
    (texts.textHex !== undefined
      ? makeTextPathFromHex(name + '.drv', texts.textHex, mergedReferences(drvPathsOf(inputs), srcs), storeDir, true)
      : makeTextPath(name + '.drv', text as string, mergedReferences(drvPathsOf(inputs), srcs), storeDir));
  hasher.recordFinalized(drvPath, texts.moduloHex);
  // The text's hash is kept with its bytes. Without them (printed again when asked for, and
  // hashed anew), the input paths are not kept either (a tenth of what lowering for paths keeps);
  // a text printed as a string (not ASCII) is kept, and so are they.
  const fin = new Finalized(undefined, drvPath, text, texts.moduloHex, outputNames, outputPaths, text === reprint ? undefined : drvPathsOf(inputs), srcs, key);
  // Printed again: its entries are in the buffer already.
  return again === 'again' ? fin : fin.printEntries(hasher);
}

/**
 * Checks that a finalized derivation's output paths and env vars are the ones
 * `finalizeDerivation` computes (what Nix checks when it registers a `.drv`); throws an
 * error naming the first wrong output.
 */
export function verifyDerivation(drv: Derivation, name: string, hasher: DerivationHasher): FinalizedDerivation {
  const partial: Derivation = { ...drv, outputs: nullRecord<DerivationOutput>() };
  for (const o of Object.keys(drv.outputs)) partial.outputs[o] = { ...drv.outputs[o]!, path: '' };
  const expected = finalizeDerivation(partial, name, hasher);
  for (const o of Object.keys(drv.outputs)) {
    const want = expected.drv.outputs[o]!.path;
    if (drv.outputs[o]!.path !== want) {
      throw new TsdslError(`derivation \`${name}\` has output \`${o}\` at \`${drv.outputs[o]!.path}\`, but its contents give \`${want}\`; finalize it with finalizeDerivation`);
    }
    if (drv.env[o] !== want) {
      throw new TsdslError(`derivation \`${name}\` has env var \`${o}\` = \`${drv.env[o] ?? '(missing)'}\`, but it must hold the output path \`${want}\``);
    }
  }
  return expected;
}
