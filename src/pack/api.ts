/**
 * `pack()`: the programmatic form of `tsdsl pack`. Builds the packages (what the store lacks),
 * makes their profile, takes the closure from the references recorded at build time, and hands
 * it to a pack format. Everything a pack holds is in the store first, so packing twice gives
 * the same bytes.
 */
import { rmSync, statSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import { TsdslError, checkRequestKeys, checkRequestTypes, fieldChecks, interruptedError, isTsdslError, warnOnStderr, withRequestFields, type FieldCheck } from '../errors.js';
import type { TransformSpec } from '../transform/api.js';
import { itemPackage, packageListCheck, type Package, type ProfileItem } from '../dsl/package.js';
import type { BuildEvent } from '../build/scheduler.js';
import type { Collection } from '../registry/collection.js';
import type { LocalStore } from '../store/store.js';
import { findPackFormat, type PackOptions } from './formats.js';

/** The pack formats (`-f`). */
export type PackFormatName = 'tarball' | 'docker' | 'oci' | 'squashfs';
/** The compressors (`-C`). */
export type CompressionName = 'gzip' | 'xz' | 'zstd' | 'none';

export interface PackRequest {
  /**
   * Packages, outputs of packages (`[hwloc, 'lib']`), or spec strings resolved in `collection`
   * (default: the default collection), `'hwloc:lib'` too; a package alone packs all its outputs.
   */
  packages: ReadonlyArray<ProfileItem | string>;
  /** Transformations applied to every package: options (`['--with-input=scotch=pt-scotch']`) or the object form of `transform()`. */
  transformations?: TransformSpec | readonly string[];
  /** `tarball` (default), `docker`, `oci`, `squashfs`. */
  format?: PackFormatName;
  /** `{ '/bin': 'bin' }` or `['/bin=bin']`: links in the pack to directories of the profile. */
  symlinks?: Readonly<Record<string, string>> | readonly string[];
  entryPoint?: string;
  /** The compressor (default: the format's, gzip for tarballs); `none` for none. */
  compression?: CompressionName;
  maxLayers?: number;
  imageTag?: string;
  /** 1 (`-R`): wrap the programs of `-S` directories to run from anywhere under user namespaces; 2 (`-RR`): also carry PRoot as a fallback. Tarballs only. */
  relocatable?: 0 | 1 | 2;
  /**
   * `--save-provenance`: record the collection's revision in the profile's manifest — this
   * text, or with `true` the one `collectionRevision()` computes for the default collection and
   * for each directory whose package files define what is packed (and what it needs).
   * (The transformations of each package are always recorded.)
   */
  provenance?: string | boolean;
  /** Where to write the pack (default: `<name>-<format>-pack<ext>` in the current directory). */
  output?: string;
  collection?: Collection;
  /** The store to build into (default: the user's store). */
  store?: LocalStore;
  /** Builds at once (default 1). */
  maxJobs?: number;
  /** Cores each build may use (default: every core of this machine, as `tsdsl build` does; realise()'s default is 1). */
  cores?: number;
  onEvent?: (e: BuildEvent) => void;
  /** Warnings (a transformation that matched nothing, a program that needs the host's loader); default: printed on stderr. */
  onWarning?: (message: string) => void;
  onProgress?: (done: number, total: number) => void;
  /**
   * Stops the builds (what was built stays in the store) and rejects with an `interrupted` error;
   * once the pack is being written, it is finished. While it is written, a SIGINT, SIGTERM or
   * SIGHUP the program does not handle itself removes the partly written file and ends the
   * process by that signal (as the command line does); with a handler of its own, the file is
   * left to finish, and removed only if the process exits first.
   */
  signal?: AbortSignal;
}

export interface PackResult {
  /** The pack file. */
  path: string;
  size: number;
  /** The profile's store path. */
  profile: string;
  /** Every store item in the pack. */
  closure: string[];
}

/** Parse `-S` specs (`/bin=bin`): the link must be absolute, the target relative to the profile. */
export function parseSymlinks(specs: Readonly<Record<string, string>> | readonly string[]): Array<{ link: string; target: string }> {
  const pairs: Array<[string, string]> = Array.isArray(specs)
    ? (specs as readonly string[]).map((s) => {
        const i = s.indexOf('=');
        if (i <= 0 || i === s.length - 1) throw new TsdslError(`-S ${s}: expected LINK=TARGET, e.g. -S /bin=bin (a link /bin in the pack to the profile's bin)`);
        return [s.slice(0, i), s.slice(i + 1)];
      })
    : Object.entries(specs as Readonly<Record<string, string>>);
  return pairs.map(([link, target]) => {
    if (!link.startsWith('/')) throw new TsdslError(`-S ${link}=${target}: the link must be an absolute path in the pack, e.g. /bin`);
    if (target.startsWith('/')) throw new TsdslError(`-S ${link}=${target}: the target must be relative to the profile (e.g. bin), not an absolute path`);
    // One spelling of each path (`//proc`, `/./proc` and `/a/../proc` are `/proc`), so that every
    // check below, and the pack, see the link where it lands.
    const normal = posix.normalize(link).replace(/(.)\/+$/, '$1');
    if (normal === '/') throw new TsdslError(`-S ${link}=${target}: the link would be the pack's root itself; give a path in it, e.g. -S /bin=bin`);
    return { link: normal, target };
  });
}

// File name endings that say how a file is compressed.
const COMPRESSED_ENDINGS: ReadonlyArray<[string, string]> = [
  ['.tar.gz', 'gzip'], ['.tgz', 'gzip'], ['.tar.xz', 'xz'], ['.txz', 'xz'], ['.tar.zst', 'zstd'], ['.tzst', 'zstd'], ['.tar', 'none'],
];
const endingOf = (name: string): readonly [string, string] | undefined => COMPRESSED_ENDINGS.find(([e]) => name.endsWith(e));

/**
 * A warning when `-o FILE`'s ending names another compression than the pack's (`-C none -o
 * x.tar.gz`): tools that go by the name (`tar xf` does not, a browser or `file` might) would be
 * misled; so is a squashfs image named as a tar. Undefined when they agree, or when the name
 * says nothing (`-o pack`).
 */
function misnamedCompression(output: string, extension: string): string | undefined {
  const ending = endingOf(output);
  if (ending === undefined) return undefined;
  const [suffix, named] = ending;
  const base = output.slice(0, output.length - suffix.length);
  const actual = endingOf(extension)?.[1];
  // A squashfs image is no tar at all.
  if (actual === undefined) return `-o ${output}: the name ends as ${tarKind(named)} would, but the pack is not a tar archive; name it ${base}${extension}`;
  if (ending[1] === actual) return undefined;
  return `-o ${output}: the name ends as ${tarKind(named)} would, but the pack is ${actual === 'none' ? 'not compressed' : `compressed with ${actual}`}; name it ${base}${extension.slice(extension.indexOf('.tar'))}, or choose -C ${named}`;
}

/** `a plain tar`, `an xz tar`, `a gzip tar`. */
function tarKind(compression: string): string {
  const word = compression === 'none' ? 'plain' : compression;
  return `${/^[aeiox]/.test(word) ? 'an' : 'a'} ${word} tar`;
}

/** The default file name of a pack: `hwloc-tarball-pack.tar.gz`. */
export function defaultPackName(packages: readonly Package[], format: string): string {
  // A package named twice (`pack zlib zlib`) is named once.
  const names = [...new Set(packages.map((p) => p.name))];
  return `${names.slice(0, 3).join('-')}${names.length > 3 ? '-etc' : ''}-${format}-pack`;
}

// Every field of a PackRequest, so that a misspelt one is an error (checked by the type).
const PACK_REQUEST_KEYS = Object.keys({
  packages: 1, transformations: 1, format: 1, symlinks: 1, entryPoint: 1, compression: 1, maxLayers: 1, imageTag: 1, relocatable: 1,
  provenance: 1, output: 1, collection: 1, store: 1, maxJobs: 1, cores: 1, onEvent: 1, onWarning: 1, onProgress: 1, signal: 1,
} satisfies Record<keyof PackRequest, 1>);

/**
 * A failure of the file system while the pack is written (full, read-only, not allowed), said
 * as an error about `-o`: what was written so far is removed by then.
 */
function writeError(e: unknown, output: string): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why: Record<string, string> = {
    ENOSPC: 'the file system is full',
    EDQUOT: 'your disk quota is used up',
    EROFS: 'the file system is read-only',
    EACCES: 'you may not write there',
    EPERM: 'you may not write there',
    ENOENT: 'its directory does not accept new files',
    EIO: 'the device reported an I/O error',
  };
  if (isTsdslError(e) || code === undefined || why[code] === undefined) return e;
  return new TsdslError(`cannot write the pack ${output}: ${why[code]} (${code}); nothing was left there. Free space, or choose another place with -o`, { cause: e });
}

export { FROM_COMMAND_LINE } from '../errors.js';

// The flags the checks' errors name, and the request fields they stand for.
const FIELDS_OF_FLAGS: ReadonlyArray<[RegExp, string]> = [
  [/(?<![\w-])-S(?=[\s=:]|$)/, '-S is `symlinks`'],
  [/(?<![\w-])-RR?\b/, '-R is `relocatable: 1` (-RR `relocatable: 2`)'],
  [/(?<![\w-])-f (?=[a-z])/, '-f is `format`'],
  [/(?<![\w-])-C (?=[a-z])/, '-C is `compression`'],
  [/(?<![\w-])-o(?=[\s:]|$)/, '-o is `output`'],
  [/--max-layers\b/, '--max-layers is `maxLayers`'],
  [/--image-tag\b/, '--image-tag is `imageTag`'],
  [/--entry-point\b/, '--entry-point is `entryPoint`'],
];

// Only messages that are about the options (they start with a flag, or end by pointing at one)
// are changed; a build's error is left as it is.
const ABOUT_OPTIONS = /^(-S|-RR?|-o|--max-layers|--image-tag|--entry-point)\b|^cannot pack -RR|^cannot write .*with -o( FILE)?$/s;

/** Build and pack. */
export async function pack(request: PackRequest): Promise<PackResult> {
  try {
    return await buildAndPack(request);
  } catch (e) {
    throw withRequestFields(e, request, 'pack()', ABOUT_OPTIONS, FIELDS_OF_FLAGS);
  }
}

// The types of the fields, checked before anything is built.
const PACK_FIELD_CHECKS: Readonly<Record<string, FieldCheck>> = {
  packages: packageListCheck,
  format: fieldChecks.text,
  symlinks: [(v) => fieldChecks.texts[0](v) || fieldChecks.textRecord[0](v), "an array of LINK=TARGET strings (['/bin=bin']) or an object ({ '/bin': 'bin' })"],
  entryPoint: fieldChecks.text,
  compression: fieldChecks.text,
  maxLayers: fieldChecks.count,
  imageTag: fieldChecks.text,
  // More than 2 (-RRR) is said below, in the command line's words.
  relocatable: [(v) => Number.isInteger(v) && (v as number) >= 0, '0, 1 (-R) or 2 (-RR)'],
  provenance: [(v) => typeof v === 'boolean' || (typeof v === 'string' && v !== ''), 'true, false or a non-empty string'],
  // '' is said by the -o check below, in the command line's words.
  output: [(v) => typeof v === 'string', 'a file name'],
  maxJobs: fieldChecks.count,
  cores: fieldChecks.count,
  onEvent: fieldChecks.function,
  onWarning: fieldChecks.function,
  onProgress: fieldChecks.function,
  signal: fieldChecks.signal,
};

async function buildAndPack(request: PackRequest): Promise<PackResult> {
  checkRequestKeys(request, PACK_REQUEST_KEYS, 'pack()');
  if (request.packages === undefined) throw new TsdslError("pack(): `packages` is missing: give what to pack, e.g. { packages: ['hwloc'] }");
  checkRequestTypes(request, PACK_FIELD_CHECKS, 'pack()');
  if (request.store !== undefined) (await import('../store/store.js')).checkRequestStore(request.store, 'pack()');
  const format = findPackFormat(request.format ?? 'tarball');
  const symlinks = parseSymlinks(request.symlinks ?? []);
  // Check the compressor now, not after a long build.
  const extension = format.extension(request.compression ? { compression: request.compression } : {});
  const relocatable = request.relocatable ?? 0;
  const warn = request.onWarning ?? warnOnStderr;
  if (relocatable > 0 && format.name !== 'tarball') {
    throw new TsdslError(`-R makes relocatable tarballs; it does not apply to -f ${format.name} (drop -R, or use -f tarball)`);
  }
  if (relocatable > 2) throw new TsdslError(`-R was given ${relocatable} times: use -R (user namespaces) or -RR (with a PRoot fallback)`);
  if (relocatable > 0 && symlinks.length === 0) {
    throw new TsdslError('-R wraps the programs that -S links point to: add a link such as -S /bin=bin');
  }
  if (format.name === 'docker' && request.compression === 'gzip') {
    warn(
      'a gzip-compressed docker-archive is for `docker load` only: skopeo 1.9 and `podman load` (and so `tsdsl run --engine=podman`) fail on it with "invalid tar header"; use -C xz or zstd, or leave -C out',
    );
  }
  if (format.name === 'oci' && request.compression === 'zstd') {
    warn('zstd-compressed OCI layers are read by skopeo and podman, but not by umoci 0.4 (as Debian 12 ships it): "blob is not correct mediatype"; use -C gzip (the default) for umoci');
  }
  // Options of some formats only: an option the format would drop is an error, as -R's is.
  const image = format.name === 'docker' || format.name === 'oci';
  if (request.maxLayers !== undefined && !image) throw new TsdslError(`--max-layers applies to -f docker and -f oci images; it does not apply to -f ${format.name} (drop it)`);
  if (request.imageTag !== undefined && !image) throw new TsdslError(`--image-tag applies to -f docker and -f oci images; it does not apply to -f ${format.name} (drop it)`);
  if (request.entryPoint !== undefined && format.name === 'tarball') {
    throw new TsdslError('--entry-point applies to images (-f docker, oci, squashfs); a tarball has none (drop it, or link the program with -S /bin=bin)');
  }
  // Before anything is built (the image writer checks again, for its other callers). No link
  // where a runtime mounts, in any format: `tsdsl run` and every engine mount /dev, /proc, /sys
  // and /tmp over a tarball's or squashfs's root as over an image's.
  {
    const docker = await import('./docker.js');
    docker.checkImageLinks(symlinks);
    if (image && request.maxLayers !== undefined) docker.checkMaxLayers(request.maxLayers);
  }
  // The -S links' own checks (a link given twice, links inside each other), before the build.
  {
    const { checkLinkSpecs, packInputError } = await import('./tar.js');
    const { problems } = checkLinkSpecs(symlinks, request.store?.storeDir ?? (await import('../derivation/hash.js')).storeDirFromEnv());
    if (problems.length) throw packInputError(problems);
  }
  // A signal aborted already: nothing lowered or written (the request was checked above).
  if (request.signal?.aborted) throw interruptedError();
  const { requestedPackages, buildProfile } = await import('../build/profile.js');
  const wanted = await requestedPackages(request.packages, request.transformations, request.collection, warn);
  if (wanted.length === 0) throw new TsdslError('nothing to pack: give at least one package');
  const packages = wanted.map(itemPackage);

  // Where the pack goes is checked before anything is built: a typo in -o costs no build.
  if (request.output === '') throw new TsdslError('-o: the file name is empty; give one (-o pack.tar.gz), or leave -o out for the default name');
  // `-o -` is the command line's standard output (it copies the file there); here it would be a file named `-`.
  if (request.output === '-') throw new TsdslError("pack(): output '-' is the command line's way to write to standard output; give a file name, and read the file (createReadStream(result.path)) to stream it");
  if (request.output !== undefined) (await import('./compress.js')).checkDestination(resolve(request.output));
  if (request.output !== undefined) {
    const wrong = misnamedCompression(request.output, extension);
    if (wrong) warn(wrong);
  }
  const { openStore } = await import('../store/store.js');
  // A store given was checked first (checkRequestStore); the default one is opened (and closed) here.
  const store = request.store ?? openStore();
  try {
    // -RR carries PRoot, its library and the C library it is started with, beside the profile.
    const relocation = relocatable >= 2 ? await import('../../packages/relocation.js') : undefined;
    const { libc6 } = await import('../../packages/bootstrap.js');
    const manifest = request.provenance === true ? await import('./manifest.js') : undefined;
    // `true`: tsdsl's revision, and that of every directory whose package files define what is packed.
    const revision = typeof request.provenance === 'string' ? request.provenance : manifest?.collectionRevision(manifest.definingDirectories(packages));
    // `-S` targets and the entry point are checked by the format (checkPackInput), through the
    // closure: the profile's links point at logical store paths, which need not exist here.
    const built = await buildProfile(store, wanted, {
      carried: relocation ? [relocation.proot, relocation.libtalloc2, libc6] : [],
      ...(revision ? { collectionRevision: revision } : {}),
      ...(request.maxJobs !== undefined ? { maxJobs: request.maxJobs } : {}),
      ...(request.cores !== undefined ? { cores: request.cores } : {}),
      ...(request.onEvent ? { onEvent: request.onEvent } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const { profile: profilePath, closure, env } = built;
    const [prootPath, tallocPath, libcPath] = built.carried;
    const items = closure.map((p) => ({ path: p, physical: store.physicalPath(p) }));
    // Programs that would load something from outside the pack (the host's /lib) are reported,
    // not refused: the pack may still be meant for a host that has it.
    const { checkLoadable, describeLoadProblem } = await import('./loadable.js');
    const problems = checkLoadable({ storeDir: store.storeDir, items, programDirs: [`${profilePath}/bin`, `${profilePath}/sbin`], links: symlinks, profile: profilePath });
    for (const problem of problems) warn(describeLoadProblem(problem));
    const references = new Map(closure.map((p) => [p, store.queryReferences(p)]));
    // A relocatable tarball is named apart from a plain one (it would replace it otherwise).
    const name = defaultPackName(packages, relocatable === 2 ? 'relocatable-proot' : relocatable === 1 ? 'relocatable' : format.name);
    const options: PackOptions = {
      ...(request.compression ? { compression: request.compression } : {}),
      ...(request.maxLayers !== undefined ? { maxLayers: request.maxLayers } : {}),
      ...(request.imageTag ? { imageTag: request.imageTag } : {}),
      references,
      onWarning: warn,
      ...(relocatable > 0 ? { relocatable } : {}),
    };
    const dest = resolve(request.output ?? `${name}${format.extension(options)}`);
    // squashfs stages the tree by hard links: beside the store, on its file system, they need
    // no copy of the closure (beside the destination, on another one, they would).
    if (request.signal?.aborted) throw interruptedError();
    const workDir = format.name === 'squashfs' ? store.makeTempDir('pack') : undefined;
    try {
      await format.write(
        {
          storeDir: store.storeDir,
          items,
          profile: profilePath,
          symlinks,
          ...(request.entryPoint ? { entryPoint: request.entryPoint } : {}),
          env,
          name,
          references,
          ...(request.onProgress ? { onProgress: request.onProgress } : {}),
          ...(prootPath && tallocPath && libcPath
            ? {
                proot: {
                  proot: `${prootPath}/usr/bin/proot`,
                  loader: `${libcPath}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2`,
                  libraryPath: [`${tallocPath}/usr/lib/x86_64-linux-gnu`, `${libcPath}/lib/x86_64-linux-gnu`],
                },
              }
            : {}),
        },
        workDir ? { ...options, workDir } : options,
        dest,
      );
    } catch (e) {
      throw writeError(e, request.output === undefined ? dest : request.output);
    } finally {
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    }
    return { path: dest, size: statSync(dest).size, profile: profilePath, closure };
  } finally {
    if (!request.store) store.close();
  }
}
