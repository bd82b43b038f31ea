/**
 * The pack formats of `tsdsl pack` (`--format`): a table of plain values sharing one
 * signature, (closure, profile, options) → file, like Guix's `%formats`. The closure arrives
 * as a `PackInput` — logical store paths, where their files are on this machine, the profile,
 * the `-S` links and the environment — so the formats know nothing of the store database or
 * the builder; the pack command computes the input and picks the format here.
 *
 * Every format validates its whole input before it creates anything, writes under a
 * temporary name beside the destination and renames at the end, and produces the same bytes
 * on every run (see tar.ts for what "the same" covers).
 *
 * The format modules import this one for types only, so loading any of them first is safe.
 */
import { TsdslError, didYouMean } from '../errors.js';
import { checkDestination, compressOptions, packCompressor, writeCompressedFile } from './compress.js';
import { docker, oci } from './docker.js';
import { relocatableTree, type ProotSupport } from './relocatable.js';
import { squashfs } from './squashfs.js';
import { checkPackInput, closureTree, planTar, writeTar } from './tar.js';

/** What a pack is made of; computed by the pack command from the store and the profile. */
export interface PackInput {
  /** The logical store directory, e.g. `/tsdsl/store`. */
  readonly storeDir: string;
  /** The closure: each store item's logical path and where its files are here (a directory, file or symlink). */
  readonly items: ReadonlyArray<{ readonly path: string; readonly physical: string }>;
  /** Logical store path of the profile (one of the items). */
  readonly profile: string;
  /** `-S /bin=bin`: a link at `/bin` in the pack to `bin` inside the profile (written relative). */
  readonly symlinks: ReadonlyArray<{ readonly link: string; readonly target: string }>;
  /** A program relative to the profile, e.g. `bin/lstopo-no-graphics`: the image's entry point. */
  readonly entryPoint?: string;
  /** The profile's environment (PATH=<profile>/bin, …), for image configurations. */
  readonly env: Readonly<Record<string, string>>;
  /** Used in file names and image tags, e.g. `hwloc-tarball-pack`. */
  readonly name: string;
  /** The references of each item (store paths), for `maxLayers`; the options may give them instead. */
  readonly references?: ReadonlyMap<string, readonly string[]>;
  /** Called as the pack is written: (done, total), in bytes of uncompressed archive (squashfs: mksquashfs's blocks). */
  readonly onProgress?: (done: number, total: number) => void;
  /** `-RR`: where PRoot and its libraries are in the closure. */
  readonly proot?: ProotSupport;
}

/** Options of `tsdsl pack` that formats interpret; each ignores those that do not concern it. */
export interface PackOptions {
  /** A compressor name from `compressors`; each format has its default. */
  readonly compression?: string;
  /** Compression level (see each compressor's range). */
  readonly compressionLevel?: number;
  /** docker, oci: the image reference `name:tag`; default `<input name>:latest`. */
  readonly imageTag?: string;
  /** docker, oci: split the closure into at most this many layers (≥ 2) by popularity. */
  readonly maxLayers?: number;
  /** docker, oci: each item's references, for `maxLayers` (overrides `PackInput.references`). */
  readonly references?: ReadonlyMap<string, readonly string[]>;
  /** Called with a sentence for each thing worth telling the user that does not stop the pack. */
  readonly onWarning?: (message: string) => void;
  /** tarball: 1 for `-R` (wrappers that re-execute under user namespaces), 2 for `-RR` (PRoot fallback). */
  readonly relocatable?: number;
  /** squashfs: where to stage the image's tree (default: beside the destination). */
  readonly workDir?: string;
}

/** One entry of the pack formats table. */
export interface PackFormat {
  readonly name: string;
  readonly description: string;
  /** The compressor used when `options.compression` is not given. */
  readonly defaultCompression: string;
  /** The file name extension of the pack with these options, e.g. `.tar.gz`. */
  extension(options?: PackOptions): string;
  /** Writes the pack to `destPath` (atomically: nothing is there if it fails). */
  write(input: PackInput, options: PackOptions, destPath: string): Promise<void>;
}

/**
 * A tarball: the closure and the `-S` links under relative names (`./tsdsl/store/…`, `./bin`),
 * so `tar xf pack.tar.gz -C ~/.local` followed by `unshare -mrf chroot ~/.local /bin/PROG`
 * runs PROG. GNU format, sorted, mtime 1, owned by root (0/0).
 */
export const tarball: PackFormat = {
  name: 'tarball',
  description: 'a tar archive of the closure, sorted and timestamp-free (GNU format)',
  defaultCompression: 'gzip',
  extension(options = {}) {
    return `.tar${packCompressor(this, options).extension}`;
  },
  async write(input, options, destPath) {
    const compressor = packCompressor(this, options);
    const checked = checkPackInput(input);
    checkDestination(destPath);
    const level = options.relocatable ?? 0;
    if (level >= 2 && !input.proot) throw new TsdslError('cannot pack -RR: the pack input does not say where PRoot is in the closure');
    const tree = level > 0 ? relocatableTree(checked, level >= 2 ? input.proot : undefined) : closureTree(checked);
    // Planning reads every directory of the closure: errors there (an unreadable or special
    // file) surface before the destination is touched.
    const entries = planTar(tree);
    await writeCompressedFile(destPath, compressor, compressOptions(options), async (sink) => {
      await writeTar(entries, (chunk, release) => sink.write(chunk, release), {
        prefix: './',
        cooperative: !compressor.synchronous,
        chunksKept: !compressor.synchronous,
        ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      });
    });
  },
};

/** The pack formats, in the order `--list-formats` prints them. */
export const packFormats: readonly PackFormat[] = [tarball, docker, oci, squashfs];

/** The format called `name`; an unknown name is a TsdslError suggesting the closest and listing all. */
export function findPackFormat(name: string): PackFormat {
  const f = packFormats.find((x) => x.name === name);
  if (!f) {
    const names = packFormats.map((x) => x.name);
    throw new TsdslError(`unknown pack format \`${name}\`${didYouMean(name, names)} (formats: ${names.join(', ')}; see --list-formats)`);
  }
  return f;
}
