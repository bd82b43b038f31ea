/**
 * The derivations a `Lowerer` made, by `.drv` path, in the order they were made: read like a
 * `ReadonlyMap`. A `Map` keyed by path hashes each new 60-character key and grows a table of
 * its own; lowering adds tens of thousands, and that was a twentieth of its time. Here a
 * path's slot comes from the characters of its hash part, which are already uniformly
 * distributed, and the table holds only indices into the list.
 */
import type { FinalizedDerivation } from './aterm.js';

export class DerivationTable {
  readonly #list: FinalizedDerivation[] = [];
  // Open addressing, linear probing: each slot holds an index into #list plus one (0: empty).
  #slots = new Int32Array(1 << 10);
  // Each derivation's hash, by its index in #list: growing and probing read no path.
  #hashes = new Int32Array(1 << 9);
  /** Where the hash part starts in a path of this store dir. */
  readonly #at: number;

  constructor(storeDir: string) {
    this.#at = storeDir.length + 1;
  }

  get size(): number {
    return this.#list.length;
  }

  /** Adds `d` under its `.drv` path; one made again (the same path) replaces it in its place. */
  add(d: FinalizedDerivation): void {
    const list = this.#list;
    if (2 * (list.length + 1) > this.#slots.length) this.#grow();
    const path = d.drvPath;
    const h = this.#hash(path);
    const i = this.#slotOf(path, h);
    const s = this.#slots[i]!;
    if (s !== 0) {
      list[s - 1] = d;
      return;
    }
    if (list.length === this.#hashes.length) {
      const hashes = new Int32Array(2 * list.length);
      hashes.set(this.#hashes);
      this.#hashes = hashes;
    }
    this.#hashes[list.length] = h;
    list.push(d);
    this.#slots[i] = list.length;
  }

  get(path: string): FinalizedDerivation | undefined {
    const s = this.#slots[this.#slotOf(path, this.#hash(path))]!;
    return s === 0 ? undefined : this.#list[s - 1];
  }

  /** The slot of `path` (whose hash is `h`): the one holding it, or the empty one where it would go. */
  #slotOf(path: string, h: number): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let i = h & mask;
    for (let s = slots[i]!; s !== 0; s = slots[i]!) {
      if (this.#hashes[s - 1] === h && this.#list[s - 1]!.drvPath === path) return i;
      i = (i + 1) & mask;
    }
    return i;
  }

  has(path: string): boolean {
    return this.get(path) !== undefined;
  }

  /** The derivations, in the order made (inputs before their users). */
  values(): IterableIterator<FinalizedDerivation> {
    return this.#list.values();
  }

  *keys(): IterableIterator<string> {
    for (const d of this.#list) yield d.drvPath;
  }

  *entries(): IterableIterator<[string, FinalizedDerivation]> {
    for (const d of this.#list) yield [d.drvPath, d];
  }

  [Symbol.iterator](): IterableIterator<[string, FinalizedDerivation]> {
    return this.entries();
  }

  forEach(f: (d: FinalizedDerivation, path: string, table: DerivationTable) => void): void {
    for (const d of this.#list) f(d, d.drvPath, this);
  }

  /**
   * FNV-1a over eight characters of the hash part (five bits of randomness each) for a path
   * of the store dir; over the whole string for anything else.
   */
  #hash(path: string): number {
    const at = this.#at;
    const inStore = path.length >= at + 33 && path.charCodeAt(at - 1) === 0x2f && path.charCodeAt(at + 32) === 0x2d;
    const end = inStore ? at + 8 : path.length;
    let h = 0x811c9dc5;
    for (let i = inStore ? at : 0; i < end; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193);
    return (h ^ (h >>> 15)) | 0;
  }

  #grow(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    const hashes = this.#hashes;
    for (let k = 0; k < this.#list.length; k++) {
      let i = hashes[k]! & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = k + 1;
    }
    this.#slots = slots;
  }
}
