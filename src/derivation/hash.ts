/**
 * Hash encodings and store-path arithmetic, exactly as Nix and Guix compute them.
 *
 * Everything that names an object in the store goes through here: the lowering step uses
 * it to turn derivations into `.drv` and output paths (see `aterm.ts`), the store uses it to
 * name added sources and text files, and origins use `parseHash` to read user-written
 * hashes. The functions are pure and synchronous; the only I/O is `storeDirFromEnv`, which
 * reads an environment map it is given.
 *
 * Reference: /work/shared/reference/nix-formats.md §1.1–§1.4.
 */
import crypto, { createHash } from 'node:crypto';
import { TsdslError } from '../errors.js';
import { latin1Slice, utf8Write } from './buffer-native.js';

/** Hash algorithms Nix 2.8 and Guix know, by their Nix names. */
export type HashAlgo = 'md5' | 'sha1' | 'sha256' | 'sha512';

/** A digest together with the algorithm that produced it. */
export interface Hash {
  algo: HashAlgo;
  digest: Buffer;
}

/** Textual encodings accepted by `formatHash`. */
export type HashEncoding = 'base16' | 'nix32' | 'base64' | 'sri';

/** Digest sizes in bytes, by algorithm. */
export const HASH_SIZES: Readonly<Record<HashAlgo, number>> = Object.freeze({
  md5: 16,
  sha1: 20,
  sha256: 32,
  sha512: 64,
});

/** The logical store directory used when `TSDSL_STORE_DIR` is not set. */
export const DEFAULT_STORE_DIR = '/tsdsl/store';

const HASH_ALGOS: readonly HashAlgo[] = ['md5', 'sha1', 'sha256', 'sha512'];

/** Nix's base-32 alphabet: digits then lower-case letters without e, o, t, u. */
export const NIX32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

const NIX32_CODES = Buffer.from(NIX32_ALPHABET, 'latin1');
// Character code → digit value, -1 for characters outside the alphabet.
const NIX32_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < NIX32_ALPHABET.length; i++) NIX32_VALUES[NIX32_ALPHABET.charCodeAt(i)] = i;

/** True for an algorithm name Nix understands. */
export function isHashAlgo(s: string): s is HashAlgo {
  return (HASH_ALGOS as readonly string[]).includes(s);
}

/** Length of the nix32 encoding of `byteLength` bytes (52 for SHA-256, 32 for a store-path digest). */
export function nix32Length(byteLength: number): number {
  return byteLength === 0 ? 0 : Math.floor((8 * byteLength - 1) / 5) + 1;
}

/**
 * Encodes bytes in Nix's base 32. Not RFC 4648: the bytes are read as one little-endian
 * integer and the first character holds its most significant 5-bit group.
 */
export function nix32Encode(bytes: Uint8Array): string {
  const n = bytes.length;
  const len = nix32Length(n);
  const out = Buffer.allocUnsafe(len);
  for (let k = 0; k < len; k++) {
    const b = 5 * (len - 1 - k);
    const i = b >>> 3;
    const j = b & 7;
    let v = bytes[i]! >>> j;
    if (i + 1 < n) v |= bytes[i + 1]! << (8 - j);
    out[k] = NIX32_CODES[v & 31]!;
  }
  return out.toString('latin1');
}

/**
 * Decodes Nix's base 32. The byte length is the largest that the string can hold; strings
 * whose length no byte count encodes, characters outside the alphabet and a top group with
 * bits beyond the byte length are rejected, as Nix rejects them.
 */
export function nix32Decode(s: string): Buffer {
  const size = Math.floor((s.length * 5) / 8);
  if (nix32Length(size) !== s.length) {
    throw new TsdslError(`nix-base32 string \`${s}\` has ${s.length} characters, which no byte length encodes; check that it was copied whole`);
  }
  const out = Buffer.alloc(size);
  for (let k = 0; k < s.length; k++) {
    const code = s.charCodeAt(k);
    const c = code < 128 ? NIX32_VALUES[code]! : -1;
    if (c < 0) {
      throw new TsdslError(`nix-base32 string \`${s}\` has the invalid character \`${s[k]}\` at position ${k}; the alphabet is ${NIX32_ALPHABET}`);
    }
    const b = 5 * (s.length - 1 - k);
    const i = b >>> 3;
    const j = b & 7;
    out[i]! |= (c << j) & 0xff;
    const carry = c >>> (8 - j);
    if (carry !== 0) {
      if (i + 1 < size) out[i + 1]! |= carry;
      else throw new TsdslError(`nix-base32 string \`${s}\` has bits set beyond its ${size}-byte length; it is not a valid encoding`);
    }
  }
  return out;
}

// One-shot `crypto.hash` (Node ≥ 20.12) is several times cheaper than createHash for the
// short inputs path computation hashes by the thousand; hex output is its fastest form.
const oneShot = (crypto as { hash?: (algo: string, data: string | Uint8Array, encoding: 'hex') => string }).hash;
// A digest as a 'binary' (latin1) string, one character per byte, costs a third of a Buffer, which is a
// new ArrayBuffer each time.
const oneShotLatin1 = (crypto as { hash?: (algo: string, data: Uint8Array, encoding: 'binary') => string }).hash;

// Hashing a string directly makes crypto convert it on every call, which costs several times
// the hashing itself; encoding it into one reused buffer first is far cheaper. The buffer
// grows to the longest text hashed (a few hundred kB for the biggest derivations).
let scratch = Buffer.allocUnsafe(1 << 16);

/** The UTF-8 bytes of `s` in the reused buffer (valid until the next call). */
function utf8(s: string): Uint8Array {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  if (s.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(Math.max(s.length * 3, scratch.length * 2));
  return new Uint8Array(scratch.buffer, scratch.byteOffset, scratch.write(s, 0, 'utf8'));
}

/** Lower-case hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  if (!oneShot) return createHash('sha256').update(data).digest('hex');
  return oneShot('sha256', typeof data === 'string' ? utf8(data) : data, 'hex');
}

/** SHA-256 of a string (UTF-8) or bytes. */
export function sha256(data: string | Uint8Array): Buffer {
  return Buffer.from(sha256Hex(data), 'hex');
}

/** Hashes data with any of the supported algorithms. */
export function hashBytes(algo: HashAlgo, data: string | Uint8Array): Buffer {
  return createHash(algo).update(data).digest();
}

/**
 * XOR-folds a digest to `n` bytes (Nix's `compressHash`): byte i of the input is XORed into
 * position i mod n. Store paths use n = 20. This is not a truncation.
 */
export function compressHash(digest: Uint8Array, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < digest.length; i++) out[i % n]! ^= digest[i]!;
  return out;
}

/** Writes a hash in one of Nix's notations; `sri` is `<algo>-<base64>`. */
export function formatHash(h: Hash, encoding: HashEncoding): string {
  switch (encoding) {
    case 'base16':
      return h.digest.toString('hex');
    case 'nix32':
      return nix32Encode(h.digest);
    case 'base64':
      return h.digest.toString('base64');
    case 'sri':
      return `${h.algo}-${h.digest.toString('base64')}`;
  }
}

const HEX_RE = /^[0-9a-fA-F]*$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function expectedForms(algo: HashAlgo): string {
  const size = HASH_SIZES[algo];
  return `expected ${size * 2} hex, ${nix32Length(size)} nix-base32 or ${base64Length(size)} base64 characters, or an SRI \`${algo}-…\` string`;
}

function base64Length(size: number): number {
  return 4 * Math.ceil(size / 3);
}

function decodeBase64Strict(s: string, size: number): Buffer | undefined {
  if (s.length !== base64Length(size) || !BASE64_RE.test(s)) return undefined;
  const digest = Buffer.from(s, 'base64');
  // Node's decoder is lenient about stray bits in the last character; a canonical
  // re-encoding rules that out so one digest has one spelling.
  if (digest.length !== size || digest.toString('base64') !== s) return undefined;
  return digest;
}

/** Decodes a digest of a known algorithm written in base16, nix32 or base64 (chosen by length). */
function decodeDigest(body: string, algo: HashAlgo, original: string): Buffer {
  const size = HASH_SIZES[algo];
  if (body.length === size * 2) {
    if (!HEX_RE.test(body)) {
      throw new TsdslError(`${algo} hash \`${original}\` has the length of a hex digest but characters outside 0-9a-f; check it was copied correctly`);
    }
    return Buffer.from(body, 'hex');
  }
  if (body.length === nix32Length(size)) {
    try {
      return nix32Decode(body);
    } catch (e) {
      throw new TsdslError(`${algo} hash \`${original}\` is not valid nix-base32: ${(e as Error).message}`);
    }
  }
  if (body.length === base64Length(size)) {
    const digest = decodeBase64Strict(body, size);
    if (digest) return digest;
    throw new TsdslError(`${algo} hash \`${original}\` has the length of a base64 digest but is not valid base64; check it was copied correctly`);
  }
  throw new TsdslError(`${algo} hash \`${original}\` has ${body.length} characters; ${expectedForms(algo)}`);
}

/** The algorithms whose base16, nix32 or base64 digest has this many characters. */
function algosForLength(len: number): HashAlgo[] {
  return HASH_ALGOS.filter((a) => {
    const size = HASH_SIZES[a];
    return len === size * 2 || len === nix32Length(size) || len === base64Length(size);
  });
}

/**
 * Reads a hash in any notation Nix accepts: `sha256-<base64>` (SRI), `sha256:<digest>`, or a
 * bare digest in base16, nix32 or base64 (the encoding is inferred from the length). A bare
 * digest takes `expectedAlgo`, or the one algorithm its length fits; a prefix must agree
 * with `expectedAlgo` when both are given.
 */
export function parseHash(text: string, expectedAlgo?: HashAlgo): Hash {
  const sri = /^([a-z0-9]+)-(.*)$/.exec(text);
  if (sri && isHashAlgo(sri[1]!)) {
    const algo = sri[1] as HashAlgo;
    checkAlgo(algo, expectedAlgo, text);
    const digest = decodeBase64Strict(sri[2]!, HASH_SIZES[algo]);
    if (!digest) {
      throw new TsdslError(`SRI hash \`${text}\` does not hold a base64 ${algo} digest (${base64Length(HASH_SIZES[algo])} characters); check it was copied whole`);
    }
    return { algo, digest };
  }
  const colon = text.indexOf(':');
  if (colon >= 0) {
    const prefix = text.slice(0, colon);
    if (!isHashAlgo(prefix)) {
      throw new TsdslError(`hash \`${text}\` names the unknown algorithm \`${prefix}\`; use one of ${HASH_ALGOS.join(', ')}`);
    }
    checkAlgo(prefix, expectedAlgo, text);
    return { algo: prefix, digest: decodeDigest(text.slice(colon + 1), prefix, text) };
  }
  if (expectedAlgo) return { algo: expectedAlgo, digest: decodeDigest(text, expectedAlgo, text) };
  const candidates = algosForLength(text.length);
  if (candidates.length === 1) return { algo: candidates[0]!, digest: decodeDigest(text, candidates[0]!, text) };
  if (candidates.length > 1) {
    throw new TsdslError(`hash \`${text}\` could be ${candidates.join(' or ')}; write it as \`${candidates[0]}:${text}\` or in SRI form`);
  }
  throw new TsdslError(`hash \`${text}\` has ${text.length} characters, which fits no algorithm; write it as \`sha256:<digest>\` or in SRI form \`sha256-<base64>\``);
}

function checkAlgo(found: HashAlgo, expected: HashAlgo | undefined, text: string): void {
  if (expected && found !== expected) {
    throw new TsdslError(`hash \`${text}\` is ${found}, but ${expected} was expected; use a ${expected} hash`);
  }
}

/** Longest store-path name Nix accepts (bytes, excluding the 33-character hash prefix). */
export const MAX_STORE_NAME_LENGTH = 211;

const STORE_NAME_RE = /^[A-Za-z0-9+\-._?=]+$/;
/** Which ASCII characters a store-path name may have (1), by code. */
const STORE_NAME_CHARS = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-._?=') STORE_NAME_CHARS[c.charCodeAt(0)] = 1;

/**
 * Checks a store-path name against Nix's rules: 1–211 characters from `A–Z a–z 0–9 + - . _ ? =`,
 * not `.` or `..`, and not starting with `.-` or `..-`. Returns a sentence saying what is
 * wrong, or undefined when the name is valid.
 */
export function validateStoreName(name: string): string | undefined {
  // Lowering checks every derivation's name: a loop over a table first (a regex costs several
  // times as much), the sentences only for a name it does not pass.
  const n = name.length;
  if (n > 0 && n <= MAX_STORE_NAME_LENGTH && name.charCodeAt(0) !== 0x2e) {
    let i = 0;
    for (; i < n; i++) {
      const c = name.charCodeAt(i);
      if (c > 0x7f || STORE_NAME_CHARS[c] === 0) break;
    }
    if (i === n) return undefined;
  }
  return storeNameProblem(name);
}

/** `validateStoreName`'s full check, with the sentence saying what is wrong. */
function storeNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'store path name is empty; give the item a name';
  if (name.length > MAX_STORE_NAME_LENGTH) {
    return `store path name \`${name.slice(0, 40)}…\` is ${name.length} characters long; the limit is ${MAX_STORE_NAME_LENGTH}, so shorten it`;
  }
  if (!STORE_NAME_RE.test(name)) {
    const bad = [...name].find((ch) => !STORE_NAME_RE.test(ch)) ?? '';
    return `store path name \`${name}\` contains \`${bad}\`; only letters, digits and + - . _ ? = are allowed`;
  }
  if (name === '.' || name === '..' || name.startsWith('.-') || name.startsWith('..-')) {
    return `store path name \`${name}\` is \`.\`/\`..\` or starts with \`.-\`/\`..-\`, which Nix forbids; rename it`;
  }
  return undefined;
}

/**
 * `text` respelt for a store path name, as a suggestion: `~` dropped (`0~beta` → `0beta`, as a
 * version), each run of other characters between words becomes `-` (`foo bar!` → `foo-bar`),
 * dots and dashes at the ends dropped. Undefined when
 * it holds letters outside ASCII (`é`), which cannot be respelt without guessing.
 */
export function storeNameSpelling(text: string): string | undefined {
  if (/[^\x00-\x7f]/.test(text)) return undefined;
  // Debian's `~` (`0~beta`, `3.0~rc1`) is dropped, as versions drop it (`0beta`, `3.0rc1`).
  return text.replace(/~/g, '').replace(/[^A-Za-z0-9+\-._]+/g, '-').replace(/^[.-]+|[.-]+$/g, '').slice(0, MAX_STORE_NAME_LENGTH) || undefined;
}

/** `validateStoreName(name + '.drv')`, without making that string when `name` is valid already. */
export function validateDrvName(name: string): string | undefined {
  // A valid name of 207 characters or fewer stays valid with `.drv` after it.
  if (name.length <= MAX_STORE_NAME_LENGTH - 4) return validateStoreName(name) === undefined ? undefined : validateStoreName(name + '.drv');
  // Too long with `.drv` after it: said of the name as written, unless its characters are wrong too.
  if (validateStoreName(name.slice(0, MAX_STORE_NAME_LENGTH - 4)) !== undefined) return validateStoreName(name + '.drv');
  return `store path name \`${name.slice(0, 40)}…\` is ${name.length} characters long: with \`.drv\` after it, the derivation's file name would be ${name.length + 4}, and the limit is ${MAX_STORE_NAME_LENGTH}; shorten it to ${MAX_STORE_NAME_LENGTH - 4} or fewer`;
}

function assertStoreName(name: string): void {
  const problem = validateStoreName(name);
  if (problem) throw new TsdslError(problem);
}

/**
 * The common store-path construction: `<storeDir>/<nix32(fold20(sha256(fp)))>-<name>` with
 * fingerprint `fp = <type>:sha256:<hex(innerDigest)>:<storeDir>:<name>`.
 */
export function makeStorePath(type: string, innerDigest: Uint8Array, name: string, storeDir: string): string {
  return makeStorePathFromHex(type, toHex(innerDigest), name, storeDir);
}

/** `makeStorePath` with the inner digest already in lower-case hex (saves a conversion in hot loops). */
export function makeStorePathFromHex(type: string, innerHex: string, name: string, storeDir: string): string {
  assertStoreName(name);
  return storePathOfCheckedName(type, innerHex, name, storeDir);
}

/** `makeStorePathFromHex` for a name the caller has validated already (finalizing checks every name first). */
export function storePathOfCheckedName(type: string, innerHex: string, name: string, storeDir: string): string {
  return storePathOfChecked(type, NO_REFERENCES, NO_REFERENCES, innerHex, name, '', storeDir) ?? joinedStorePath(`${type}:sha256:${innerHex}:${storeDir}:${name}`, name, storeDir);
}

const NO_REFERENCES: readonly string[] = Object.freeze([]);

/** A reference: a store path, or a derivation's `.drv` path. */
const pathOf = (r: string | { readonly drvPath: string }): string => (typeof r === 'string' ? r : r.drvPath);

/** The store path of a fingerprint made as a string: the general form, for any characters. */
function joinedStorePath(fingerprint: string, name: string, storeDir: string): string {
  return `${storeDir}/${writeHashPart(sha256Latin1(utf8(fingerprint)), hashPart, 0).toString('latin1', 0, 32)}-${name}`;
}

/**
 * The store path of type `type` followed by the references `a` and `b` merged (each strictly
 * increasing; a path in both is named once), inner digest `innerHex`, and name `name` + `suffix`
 * (checked): `<type>:<ref>…:sha256:<hex>:<store dir>:<name>` written byte by byte into a reused
 * buffer and hashed from there, the path assembled as bytes and read once as a string. Lowering
 * makes two paths for each of tens of thousands of derivations; joining each fingerprint from
 * strings (and the `.drv`'s list of references) made a kilobyte of garbage a derivation. `a` may
 * be derivations (their `.drv` paths are the references), so that no list of paths is made. Undefined
 * when a string is not ASCII (the caller joins strings then).
 */
export function storePathOfChecked(
  type: string,
  a: readonly string[] | readonly { readonly drvPath: string }[],
  b: readonly string[],
  innerHex: string,
  name: string,
  suffix: string,
  storeDir: string,
): string | undefined {
  if (!asciiStoreDir(storeDir)) return undefined;
  const at = storeDir.length + 1;
  const n = at + 33 + name.length + suffix.length;
  if (n > pathBytes.length) return undefined;
  let need = type.length + 8 + innerHex.length + 2 + storeDir.length + name.length + suffix.length;
  for (let i = 0; i < a.length; i++) need += 1 + pathOf(a[i]!).length;
  for (let i = 0; i < b.length; i++) need += 1 + b[i]!.length;
  if (3 * need > fp.length) fp = Buffer.allocUnsafe(Math.max(3 * need, 2 * fp.length));
  fpLength = 0;
  if (!fpPut(type)) return undefined;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = i < a.length ? pathOf(a[i]!) : undefined;
    const y = j < b.length ? b[j]! : undefined;
    let ref: string;
    if (y === undefined || (x !== undefined && x < y)) (ref = x!), i++;
    else if (x === undefined || y < x) (ref = y), j++;
    else (ref = x), i++, j++;
    fp[fpLength++] = 0x3a;
    if (!fpPut(ref)) return undefined;
  }
  if (!(fpPut(':sha256:') && fpPut(innerHex))) return undefined;
  fp[fpLength++] = 0x3a;
  if (!fpPut(storeDir)) return undefined;
  fp[fpLength++] = 0x3a;
  if (!(fpPut(name) && fpPut(suffix))) return undefined;
  writeHashPart(sha256Latin1(fingerprintView(fpLength)), pathBytes, at);
  pathBytes[at + 32] = 0x2d;
  // The name and suffix, ASCII (they were just written as such), from the fingerprint's end.
  for (let k = at + 33, m = fpLength - name.length - suffix.length; m < fpLength; ) pathBytes[k++] = fp[m++]!;
  return latin1Slice.call(pathBytes, 0, n);
}

// The fingerprint being hashed (grown as needed), and how much of it is written.
let fp = Buffer.allocUnsafe(1 << 12);
let fpLength = 0;
// Views of fp's start, by length: fingerprints have few lengths, and each hash needs a view.
let fpViews: Uint8Array[] = [];
let fpViewsOf = fp;

function fingerprintView(length: number): Uint8Array {
  if (fpViewsOf !== fp) (fpViews = []), (fpViewsOf = fp);
  return (fpViews[length] ??= new Uint8Array(fp.buffer, fp.byteOffset, length));
}

/**
 * Copies the characters of `s` into `into` from `at`, one byte each (for short strings, where
 * this loop is cheaper than the native writer's call); returns their codes ORed together, above
 * 0x7f when one is not ASCII (and was mangled).
 */
export function copyChars(s: string, into: Uint8Array, at: number): number {
  let high = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    high |= c;
    into[at + k] = c;
  }
  return high;
}

/** Appends `s` to the fingerprint; false when it is not ASCII. */
function fpPut(s: string): boolean {
  const n = s.length;
  if (n < 16) {
    const high = copyChars(s, fp, fpLength);
    fpLength += n;
    return high < 0x80;
  }
  const written = utf8Write.call(fp, s, fpLength, fp.length - fpLength);
  fpLength += written;
  return written === n;
}

/** SHA-256 of bytes as a 'binary' string (one character per byte). */
function sha256Latin1(data: Uint8Array): string {
  return oneShotLatin1 ? oneShotLatin1('sha256', data, 'binary') : createHash('sha256').update(data).digest('binary');
}

// Reused by storePathOfChecked: `<store dir>/` at its start (written again when the store
// dir changes), then the hash and the name of the path being made.
const pathBytes = Buffer.allocUnsafe(1024);
let pathBytesDir = '';

/** Whether `storeDir` is ASCII, written at the start of `pathBytes` (once per store dir). */
function asciiStoreDir(storeDir: string): boolean {
  if (storeDir === pathBytesDir) return true;
  for (let i = 0; i < storeDir.length; i++) if (storeDir.charCodeAt(i) > 0x7f) return false;
  if (storeDir.length + 1 > pathBytes.length) return false;
  pathBytes.write(storeDir + '/', 0, 'latin1');
  pathBytesDir = storeDir;
  return true;
}

// Reused by writeHashPart: the 20-byte fold; and the 32 characters of a hash part alone.
const folded = new Uint8Array(20);
const hashPart = Buffer.allocUnsafe(32);

/**
 * nix32 of a SHA-256 digest (a 'binary' string) folded to 20 bytes: the 32 characters of a
 * store path's hash part, written into `into` at `at`, which it returns.
 */
function writeHashPart(d: string, into: Buffer, at: number): Buffer {
  for (let i = 0; i < 20; i++) folded[i] = d.charCodeAt(i) ^ (i < 12 ? d.charCodeAt(i + 20) : 0);
  for (let k = 0; k < 32; k++) {
    const b = 5 * (31 - k);
    const i = b >>> 3;
    const j = b & 7;
    let v = folded[i]! >>> j;
    if (i + 1 < 20) v |= folded[i + 1]! << (8 - j);
    into[at + k] = NIX32_CODES[v & 31]!;
  }
  return into;
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Sorted, de-duplicated references joined as `:ref:ref…` for a path type. */
function referenceSuffix(references: readonly string[]): string {
  if (references.length === 0) return '';
  // Store paths in one store dir differ only in their ASCII base names, so UTF-16 order
  // is byte order here. Callers usually pass sorted lists already; check before copying.
  let ordered = true;
  for (let i = 1; i < references.length && ordered; i++) ordered = references[i - 1]! < references[i]!;
  return ':' + (ordered ? references : [...new Set(references)].sort()).join(':');
}

/**
 * Path of a text item (builder script, `builtins.toFile`, or a `.drv` file): type
 * `text:<refs…>`, inner digest SHA-256 of the contents.
 */
export function makeTextPath(name: string, contents: string | Uint8Array, references: readonly string[], storeDir: string): string {
  return makeStorePathFromHex('text' + referenceSuffix(references), sha256Hex(contents), name, storeDir);
}

/** `makeTextPath` when the contents' SHA-256 (hex) is already known. */
export function makeTextPathFromHex(name: string, contentsHex: string, references: readonly string[], storeDir: string, nameChecked = false): string {
  const type = 'text' + referenceSuffix(references);
  return nameChecked ? storePathOfCheckedName(type, contentsHex, name, storeDir) : makeStorePathFromHex(type, contentsHex, name, storeDir);
}

/**
 * Path of a NAR-hashed (recursive, SHA-256) item such as an added source tree: type
 * `source:<refs…>[:self]`, inner digest the NAR hash itself.
 */
export function makeSourcePath(
  name: string,
  narHash: Uint8Array,
  references: readonly string[],
  storeDir: string,
  selfReference = false,
): string {
  return makeStorePath('source' + referenceSuffix(references) + (selfReference ? ':self' : ''), narHash, name, storeDir);
}

/** How a content-addressed item was hashed: its bytes (`flat`) or its NAR (`recursive`). */
export type IngestionMethod = 'flat' | 'recursive';

/** A content address: the ingestion method plus the expected hash. */
export interface FixedOutputHash {
  method: IngestionMethod;
  algo: HashAlgo;
  digest: Uint8Array;
}

/**
 * Path of a content-addressed item, which is also a fixed-output derivation's output path.
 * Recursive SHA-256 is a `source` path (and may have references); every other combination
 * is `output:out` over `fixed:out:[r:]<algo>:<hex>:` and may not have references.
 */
export function makeFixedOutputPath(
  name: string,
  hash: FixedOutputHash,
  storeDir: string,
  references: readonly string[] = [],
): string {
  if (hash.digest.length !== HASH_SIZES[hash.algo]) {
    throw new TsdslError(`${hash.algo} digest for \`${name}\` has ${hash.digest.length} bytes instead of ${HASH_SIZES[hash.algo]}; pass a decoded ${hash.algo} digest`);
  }
  if (hash.method === 'recursive' && hash.algo === 'sha256') {
    return makeSourcePath(name, hash.digest, references, storeDir);
  }
  if (references.length > 0) {
    throw new TsdslError(`content-addressed item \`${name}\` (${hash.method} ${hash.algo}) cannot have references; only recursive sha256 items can`);
  }
  const inner = `fixed:out:${hash.method === 'recursive' ? 'r:' : ''}${hash.algo}:${toHex(hash.digest)}:`;
  return makeStorePathFromHex('output:out', sha256Hex(inner), name, storeDir);
}

/** Splits a store path into its store dir, 32-character hash part and name; throws when it is not one. */
export function parseStorePath(path: string, storeDir?: string): { storeDir: string; hash: string; name: string } {
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (slash <= 0 || (storeDir !== undefined && dir !== storeDir)) {
    throw new TsdslError(`\`${path}\` is not a store path${storeDir !== undefined ? ` in ${storeDir}` : ''}; store paths look like ${storeDir ?? DEFAULT_STORE_DIR}/<32-character hash>-<name>`);
  }
  if (base.length < 34 || base[32] !== '-') {
    throw new TsdslError(`\`${path}\` is not a store path: its base name must be a 32-character hash, \`-\`, and a name`);
  }
  const hash = base.slice(0, 32);
  for (let k = 0; k < 32; k++) {
    const code = hash.charCodeAt(k);
    if (code >= 128 || NIX32_VALUES[code]! < 0) {
      throw new TsdslError(`\`${path}\` is not a store path: its hash part \`${hash}\` is not nix-base32`);
    }
  }
  const name = base.slice(33);
  const problem = validateStoreName(name);
  if (problem) throw new TsdslError(`\`${path}\` is not a valid store path: ${problem}`);
  return { storeDir: dir, hash, name };
}

/** True when `path` is a well-formed store path (in `storeDir`, if given). */
export function isStorePath(path: string, storeDir?: string): boolean {
  try {
    parseStorePath(path, storeDir);
    return true;
  } catch {
    return false;
  }
}

/** The 32-character nix32 hash part of a store path. */
export function storePathHash(path: string): string {
  return parseStorePath(path).hash;
}

/** The name part of a store path (what follows `<hash>-`). */
export function storePathName(path: string): string {
  return parseStorePath(path).name;
}

/**
 * The logical store directory: `TSDSL_STORE_DIR` when set, else `/tsdsl/store`. It must be
 * absolute, without a trailing slash, since it is part of every path's fingerprint.
 */
export function storeDirFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const value = env['TSDSL_STORE_DIR'];
  if (value === undefined || value === '') return DEFAULT_STORE_DIR;
  return validateStoreDir(value, 'TSDSL_STORE_DIR');
}

/** Checks a logical store directory and returns it; `what` names its origin in the error. */
export function validateStoreDir(dir: string, what = 'store directory'): string {
  if (!dir.startsWith('/')) {
    throw new TsdslError(`${what} \`${dir}\` is not absolute; use an absolute path such as ${DEFAULT_STORE_DIR}`);
  }
  if (dir.length > 1 && dir.endsWith('/')) {
    throw new TsdslError(`${what} \`${dir}\` ends with \`/\`; remove the trailing slash (it is part of every store path's hash)`);
  }
  if (dir === '/' || /\/\/|\/\.\.?(\/|$)/.test(dir)) {
    throw new TsdslError(`${what} \`${dir}\` is not a normalised directory path; write it like ${DEFAULT_STORE_DIR}`);
  }
  // Nix writes store paths into .drv files unescaped: a quote, backslash or control character
  // in the store dir would make every derivation unreadable.
  if (/["\\\x00-\x1f\x7f]/.test(dir)) {
    throw new TsdslError(`${what} \`${JSON.stringify(dir).slice(1, -1)}\` contains a quote, backslash or control character, which .drv files cannot hold unescaped; use a plain path such as ${DEFAULT_STORE_DIR}`);
  }
  // Builders get their inputs as one space-separated list, as Nix and Guix builders do.
  if (dir.includes(' ')) {
    throw new TsdslError(`${what} \`${dir}\` contains a space, which would split every list of store paths a build is given; use a path without spaces such as ${DEFAULT_STORE_DIR}`);
  }
  // Builds join store directories with `:` (PATH, CPATH, LIBRARY_PATH, PKG_CONFIG_PATH).
  if (dir.includes(':')) {
    throw new TsdslError(`${what} \`${dir}\` contains \`:\`, which would split every search path a build sets (PATH, CPATH, LIBRARY_PATH); use a path without it such as ${DEFAULT_STORE_DIR}`);
  }
  // Builder scripts and wrappers write store paths inside shell quotes.
  const shell = /['$`]/.exec(dir);
  if (shell) {
    throw new TsdslError(`${what} \`${dir}\` contains \`${shell[0]}\`, which the build's shell scripts would read as quoting or expansion; use a plain path such as ${DEFAULT_STORE_DIR}`);
  }
  const long = dir.split('/').find((c) => Buffer.byteLength(c) > 255);
  if (long !== undefined) {
    throw new TsdslError(`${what} has a component of ${Buffer.byteLength(long)} bytes (\`${long.slice(0, 20)}…\`), more than the 255 a file name may have here; use a shorter path such as ${DEFAULT_STORE_DIR}`);
  }
  return dir;
}
