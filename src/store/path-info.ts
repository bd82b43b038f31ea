/**
 * The rows of the store's database, as the store hands them out and takes them in. Kept apart
 * from db.ts so that the public API's declaration files, which name them, never import
 * `better-sqlite3`'s types (a devDependency: a user's compiler would not find them).
 */

/** What the store knows about a valid path. */
export interface PathInfo {
  path: string;
  /** `sha256:<nix32>`, as narinfo files write it. */
  narHash: string;
  narSize: number;
  /** Seconds since the epoch; informational only (nothing reproducible depends on it). */
  registrationTime: number;
  /** The `.drv` that built this path, if known. */
  deriver: string | undefined;
  /** Content address (`text:sha256:…`, `fixed:r:sha256:…`, `fixed:sha256:…`), if any. */
  ca: string | undefined;
  /** Full store paths this path refers to, sorted (may include itself). */
  references: string[];
}

/** A row to insert for a newly valid path. */
export interface NewPathInfo {
  path: string;
  narHash: string;
  narSize: number;
  registrationTime: number;
  deriver?: string | undefined;
  ca?: string | undefined;
  references: readonly string[];
  /** For `.drv` files: output name → output path. */
  derivationOutputs?: Readonly<Record<string, string>>;
}
