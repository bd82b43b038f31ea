/**
 * Container images of a closure: the `docker` format (a docker-archive, the layout of
 * `docker save`, which `docker load`, `podman load` and `skopeo` read) and the `oci` format (an
 * OCI image layout in a tar — skopeo's `oci-archive:` — with `oci-layout`, `index.json` and
 * `blobs/sha256/…`). Both hold no base image: the store items, the `-S` links, `/tmp` and an
 * image configuration whose environment and entry point come from the profile.
 *
 * With `maxLayers`, the closure is split like Nix's `dockerTools.streamLayeredImage`: items
 * are ranked by popularity (how many items of the closure depend on them, directly or not) and
 * the most popular each get a layer of their own, first; the others share the last layer with
 * the links and `/tmp`. Images of related packages then share their bottom layers (glibc, the
 * GCC runtime, …), which registries and container engines store and transfer once.
 *
 * Layers are tars as tar.ts writes them (deterministic), `rootfs.diff_ids` are the sha256 of
 * the uncompressed layers (skopeo checks them on copy), and every date is 1970-01-01T00:00:01Z.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { TsdslError } from '../errors.js';
import { fileSha256 } from '../store/nar.js';
import { checkDestination, compressOptions, none, openCompressedFile, packCompressor, removeTree, temporaryName, trackTemporary, writeCompressedFile } from './compress.js';
import type { Compressor } from './compress.js';
import type { PackFormat, PackInput, PackOptions } from './formats.js';
import { PackTree, TarWriter, checkPackInput, closureTree, planTar, tarSize, writeTar } from './tar.js';
import type { CheckedInput, PackItem, Sink, TarEntry } from './tar.js';

/** The creation date of every image, layer and history entry: mtime 1, as in the layers. */
export const IMAGE_CREATED = '1970-01-01T00:00:01Z';

// ---------------------------------------------------------------------------------------------
// Layering by popularity

/**
 * The popularity of each item: the number of items of the closure whose closure contains it
 * (itself included). References to paths outside `items` are ignored; cycles are harmless.
 */
export function popularity(items: readonly string[], references: ReadonlyMap<string, readonly string[]>): Map<string, number> {
  const inClosure = new Set(items);
  const counts = new Map<string, number>(items.map((p) => [p, 0]));
  for (const root of items) {
    const seen = new Set<string>([root]);
    const stack = [root];
    while (stack.length > 0) {
      const p = stack.pop()!;
      counts.set(p, counts.get(p)! + 1);
      for (const r of references.get(p) ?? []) {
        if (inClosure.has(r) && !seen.has(r)) {
          seen.add(r);
          stack.push(r);
        }
      }
    }
  }
  return counts;
}

/**
 * Splits `items` into layers, bottom first: the `maxLayers - 1` most popular items each alone
 * (ties broken by store path, so the split is deterministic), then one layer with all the
 * others. Without `maxLayers`, one layer holds everything. The last group may be empty (when
 * there are fewer items than layers): it still becomes a layer, holding the `-S` links and
 * `/tmp`, so there are `min(maxLayers, items + 1)` layers.
 */
export function splitLayers(
  items: readonly string[],
  references: ReadonlyMap<string, readonly string[]> | undefined,
  maxLayers: number | undefined,
): string[][] {
  if (maxLayers === undefined) return [[...items].sort(compareBytes)];
  checkMaxLayers(maxLayers);
  if (!references) {
    throw new TsdslError('splitting an image into layers (--max-layers) needs the references of the closure\'s items; pass `references` (store path → referenced store paths)');
  }
  const pop = popularity(items, references);
  const ranked = [...items].sort((a, b) => pop.get(b)! - pop.get(a)! || compareBytes(a, b));
  const singles = ranked.slice(0, Math.min(maxLayers - 1, ranked.length));
  const rest = ranked.slice(singles.length).sort(compareBytes);
  return [...singles.map((p) => [p]), rest];
}

/** The most layers `--max-layers` may ask for: overlayfs, as Docker uses it, stacks at most 125 (its max depth is 128). */
const MAX_LAYERS = 125;

/** Checks `--max-layers` (the pack API calls it before building). */
export function checkMaxLayers(n: number): void {
  if (!Number.isInteger(n) || n < 2) {
    throw new TsdslError(
      `--max-layers must be an integer of at least 2 layers (one for the most shared items, one for the rest), not ${n}; leave --max-layers out for one layer holding everything`,
    );
  }
  if (n > MAX_LAYERS) {
    throw new TsdslError(`--max-layers=${n}: Docker and Podman run images of at most ${MAX_LAYERS} layers; give ${MAX_LAYERS} or fewer (the most shared store items get layers of their own, the rest share the last)`);
  }
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

// ---------------------------------------------------------------------------------------------
// Image configuration

/** The image reference `name:tag` with the tag split off, after checking Docker's grammar. */
export function parseImageTag(tag: string): { repository: string; tag: string } {
  const lastSlash = tag.lastIndexOf('/');
  const colon = tag.lastIndexOf(':');
  const [repository, version] = colon > lastSlash ? [tag.slice(0, colon), tag.slice(colon + 1)] : [tag, 'latest'];
  const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
  const repoRe = new RegExp(`^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?${component}(?:/${component})*$`);
  if (!repoRe.test(repository) || !/^[\w][\w.-]{0,127}$/.test(version)) {
    throw new TsdslError(
      `invalid image tag \`${tag}\`: use \`name:tag\` with a lowercase name of letters, digits and . _ - separators, and a tag of at most 128 letters, digits, . _ or - (for example \`hwloc:2.9.0\`)`,
    );
  }
  return { repository, tag: version };
}

function defaultImageTag(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+|[._-]+$/g, '');
  return `${cleaned || 'tsdsl-pack'}:latest`;
}

/** One layer of an image: its tar members and a description for `history`. */
interface LayerPlan {
  readonly entries: TarEntry[];
  readonly size: number;
  readonly comment: string;
  /** Identifies the layer in a docker archive's legacy `<id>/` directory. */
  readonly id: string;
}

/** Everything an image needs, computed before any file is created. */
interface ImagePlan {
  readonly checked: CheckedInput;
  readonly layers: readonly LayerPlan[];
  readonly repository: string;
  readonly tag: string;
  readonly env: string[];
  readonly entrypoint: string[] | undefined;
  readonly architecture: string;
}

/** Directories container runtimes mount over, present (empty) in every image. */
const MOUNT_POINTS = ['/dev', '/proc', '/sys'];

/**
 * Refuses `-S` links where a runtime mounts (/dev, /proc, /sys) or that would replace the
 * image's own /tmp (1777): the container would break. The pack API calls it before building.
 */
export function checkImageLinks(symlinks: ReadonlyArray<{ readonly link: string }>): void {
  for (const { link } of symlinks) {
    const under = [...MOUNT_POINTS, '/tmp'].find((d) => link === d || link.startsWith(`${d}/`));
    if (under) {
      throw new TsdslError(
        `-S ${link}: \`${under}\` is where container runtimes mount ${under === '/tmp' ? "the pack's temporary directory" : `the host's ${under}`}, so a pack can have no link there; choose another path (such as -S /lib=lib)`,
      );
    }
  }
}

/** Checks the input and options and plans the layers (this reads the closure's metadata). */
function planImage(input: PackInput, options: PackOptions): ImagePlan {
  if (options.maxLayers !== undefined) checkMaxLayers(options.maxLayers);
  const { repository, tag } = parseImageTag(options.imageTag ?? defaultImageTag(input.name));
  const checked = checkPackInput(input);
  const { closure } = checked;
  checkImageLinks(checked.symlinks);
  const groups = splitLayers(
    closure.items.map((i) => i.path),
    options.references ?? input.references,
    options.maxLayers,
  );
  let parent = '';
  const layers = groups.map((paths, index) => {
    const last = index === groups.length - 1;
    const items = paths.map((p) => closure.item(p)!);
    const tree = closureTree(checked, { items, links: last });
    if (last) {
      tree.directory('/tmp', 0o1777, "the image's /tmp");
      // Empty mount points: docker and podman make them, but Charliecloud's ch-run binds the
      // host's /dev, /proc and /sys onto directories that must exist in the unpacked image.
      for (const d of MOUNT_POINTS) if (!tree.get(d)) tree.directory(d, 0o755, `the mount point ${d}`);
    }
    const entries = planTar(tree);
    const comment = layerComment(items, last);
    // A legacy layer id, like `docker save`'s: a hash of its parent and of what it holds (every
    // member's name, kind, mode, size and link target, and the bytes tsdsl writes itself: the
    // -S links, the profile's files); files of store items are named by their store paths.
    const h = createHash('sha256').update(`${parent}\n${comment}\n${paths.join('\n')}\n`);
    for (const e of entries) {
      h.update(e.name).update(`\0${e.type}\0${e.mode}\0${e.size}\0`);
      if (e.linkname) h.update(e.linkname);
      if (e.content) h.update(e.content);
      h.update('\n');
    }
    const id = h.digest('hex');
    parent = id;
    return { entries, size: tarSize(entries), comment, id };
  });
  const env = Object.keys(input.env)
    .sort(compareBytes)
    .map((k) => `${k}=${input.env[k]}`);
  return {
    checked,
    layers,
    repository,
    tag,
    env,
    entrypoint: checked.entryPoint === undefined ? undefined : [checked.entryPoint],
    // TODO(system): take it from the closure's system once PackInput carries one; every
    // closure tsdsl builds today is x86_64-linux.
    architecture: 'amd64',
  };
}

function layerComment(items: readonly PackItem[], last: boolean): string {
  const names = items.map((i) => basename(i.path));
  const what = names.length === 0 ? 'no store items' : names.length <= 3 ? names.join(', ') : `${names.length} store items`;
  return last ? `${what}; links and /tmp` : what;
}

/** The image configuration (docker and OCI share it). */
function imageConfig(plan: ImagePlan, diffIds: readonly string[]): Buffer {
  const config: Record<string, unknown> = { Env: plan.env };
  if (plan.entrypoint) config.Entrypoint = plan.entrypoint;
  return Buffer.from(
    JSON.stringify({
      architecture: plan.architecture,
      os: 'linux',
      created: IMAGE_CREATED,
      config,
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: plan.layers.map((l) => ({ created: IMAGE_CREATED, created_by: 'tsdsl pack', comment: l.comment })),
    }),
  );
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function progressOf(input: PackInput, plan: ImagePlan): (layer: number, bytes: number) => void {
  const total = plan.layers.reduce((s, l) => s + l.size, 0);
  const before = plan.layers.map((_, i) => plan.layers.slice(0, i).reduce((s, l) => s + l.size, 0));
  const onProgress = input.onProgress;
  return (layer, bytes) => onProgress?.(before[layer]! + bytes, total);
}

// ---------------------------------------------------------------------------------------------
// docker-archive

/**
 * Writes a docker-archive: for each layer `<id>/layer.tar` (uncompressed), `<id>/VERSION` and
 * `<id>/json`, then `<sha256 of config>.json`, `manifest.json` and `repositories`. Each layer
 * is streamed into the archive while its diff_id is computed, which is possible because a
 * layer's size is known from its plan; the configuration, which needs the diff_ids, comes last.
 * `synchronous`: the sink writes synchronously (no compressor), see `TarOptions`.
 */
async function writeDockerArchive(
  plan: ImagePlan,
  sink: Sink,
  progress: (layer: number, bytes: number) => void,
  synchronous: boolean,
): Promise<void> {
  const outer = new TarWriter(sink, { chunksKept: !synchronous });
  const diffIds: string[] = [];
  const file = async (name: string, bytes: Uint8Array): Promise<void> => {
    await outer.add({ name: Buffer.from(name), type: 'file', mode: 0o644, size: bytes.length, content: bytes });
  };
  for (const [index, layer] of plan.layers.entries()) {
    await outer.add({ name: Buffer.from(layer.id), type: 'directory', mode: 0o755, size: 0 });
    await file(`${layer.id}/VERSION`, Buffer.from('1.0'));
    const legacy: Record<string, unknown> = { id: layer.id };
    if (index > 0) legacy.parent = plan.layers[index - 1]!.id;
    legacy.created = IMAGE_CREATED;
    legacy.os = 'linux';
    await file(`${layer.id}/json`, Buffer.from(JSON.stringify(legacy)));
    await outer.beginFile(`${layer.id}/layer.tar`, layer.size);
    const hash = createHash('sha256');
    const inner = new TarWriter(
      (chunk) => {
        hash.update(chunk);
        return outer.raw(chunk);
      },
      // The outer writer copies what the layer's writer gives it, so one buffer will do.
      { onChunk: (bytes) => progress(index, bytes), cooperative: !synchronous, chunksKept: false },
    );
    for (const e of layer.entries) await inner.add(e);
    await inner.finish();
    await outer.endFile();
    diffIds.push(`sha256:${hash.digest('hex')}`);
  }
  const config = imageConfig(plan, diffIds);
  const configName = `${sha256(config)}.json`;
  await file(configName, config);
  const reference = `${plan.repository}:${plan.tag}`;
  const manifest = [{ Config: configName, RepoTags: [reference], Layers: plan.layers.map((l) => `${l.id}/layer.tar`) }];
  await file('manifest.json', Buffer.from(JSON.stringify(manifest)));
  await file('repositories', Buffer.from(JSON.stringify({ [plan.repository]: { [plan.tag]: plan.layers.at(-1)!.id } })));
  await outer.finish();
}

/** `docker`: a docker-archive, as `docker save` writes; `docker load` / `podman load` / skopeo read it. */
export const docker: PackFormat = {
  name: 'docker',
  description: 'a docker-archive image (`docker load`, `podman load`, `skopeo copy docker-archive:…`), optionally layered',
  // Uncompressed by default. skopeo 1.9 (and podman load) read xz- and zstd-compressed
  // docker-archives but fail on a gzipped one ("archive/tar: invalid tar header"), which only
  // `docker load` takes: `pack` warns about it.
  defaultCompression: 'none',
  extension(options = {}) {
    return `.tar${packCompressor(this, options).extension}`;
  },
  async write(input, options, destPath) {
    const compressor = packCompressor(this, options);
    const plan = planImage(input, options);
    checkDestination(destPath);
    const progress = progressOf(input, plan);
    await writeCompressedFile(destPath, compressor, compressOptions(options), (sink) =>
      writeDockerArchive(plan, (c, release) => sink.write(c, release), progress, compressor.synchronous),
    );
  },
};

// ---------------------------------------------------------------------------------------------
// OCI image layout

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

function ociLayerCompressor(options: PackOptions): Compressor {
  const compressor = packCompressor(oci, options);
  if (compressor.ociMediaSuffix === undefined) {
    throw new TsdslError(`OCI images cannot have ${compressor.name}-compressed layers (the image spec defines gzip and zstd); use --compression=gzip, zstd or none`);
  }
  return compressor;
}

/**
 * Writes an OCI image layout as a tar. Blobs are named by their digest, so each layer is first
 * compressed into a temporary file beside the destination (its digest is known only then);
 * the layout's tar is then assembled from those files and the JSON documents.
 */
async function writeOciArchive(plan: ImagePlan, options: PackOptions, destPath: string, progress: (layer: number, bytes: number) => void): Promise<void> {
  const compressor = ociLayerCompressor(options);
  const work = temporaryName(destPath, 'layers');
  const release = trackTemporary(work);
  try {
    mkdirSync(work);
    const tree = new PackTree();
    tree.directory('/blobs/sha256');
    const blob = (hex: string, bytes: Uint8Array | undefined, physical?: string): void => {
      if (tree.get(`/blobs/sha256/${hex}`)) return;
      if (physical) tree.copy(`/blobs/sha256/${hex}`, physical, `the blob ${hex}`);
      else tree.file(`/blobs/sha256/${hex}`, bytes!, 0o644, `the blob ${hex}`);
    };
    const diffIds: string[] = [];
    const layers: Array<{ mediaType: string; digest: string; size: number }> = [];
    for (const [index, layer] of plan.layers.entries()) {
      const file = join(work, `layer-${index}`);
      const sink = openCompressedFile(file, compressor, compressOptions(options));
      const hash = createHash('sha256');
      try {
        await writeTar(
          layer.entries,
          (chunk, release) => {
            hash.update(chunk);
            return sink.write(chunk, release);
          },
          { onProgress: (done) => progress(index, done), cooperative: !compressor.synchronous, chunksKept: !compressor.synchronous },
        );
        await sink.close();
      } catch (e) {
        sink.abort();
        throw e;
      }
      diffIds.push(`sha256:${hash.digest('hex')}`);
      const hex = (await fileSha256(file)).toString('hex');
      const { size } = statSync(file);
      // The blob goes into the layout with this file's mode, which the umask made: fix it.
      chmodSync(file, 0o644);
      layers.push({ mediaType: OCI_LAYER + compressor.ociMediaSuffix!, digest: `sha256:${hex}`, size });
      blob(hex, undefined, file);
    }
    const config = imageConfig(plan, diffIds);
    const configHex = sha256(config);
    blob(configHex, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: `sha256:${configHex}`, size: config.length },
        layers,
      }),
    );
    const manifestHex = sha256(manifest);
    blob(manifestHex, manifest);
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: `sha256:${manifestHex}`,
          size: manifest.length,
          // skopeo and umoci look images up by this tag; containerd by the full reference.
          annotations: { 'io.containerd.image.name': `${plan.repository}:${plan.tag}`, 'org.opencontainers.image.ref.name': plan.tag },
        },
      ],
    };
    tree.file('/index.json', JSON.stringify(index));
    tree.file('/oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const entries = planTar(tree);
    await writeCompressedFile(destPath, none, {}, async (sink) => {
      await writeTar(entries, (chunk) => sink.write(chunk), { cooperative: false, chunksKept: false });
    });
  } finally {
    removeTree(work);
    release();
  }
}

/** `oci`: an OCI image layout in a tar (`skopeo copy oci-archive:FILE …`), layers compressed with `--compression`. */
export const oci: PackFormat = {
  name: 'oci',
  description: 'an OCI image layout in a tar (`skopeo copy oci-archive:…`, `podman load`), optionally layered',
  defaultCompression: 'gzip',
  extension(options = {}) {
    // The layers' compressor is checked now, before anything is built.
    ociLayerCompressor(options);
    // The layers inside are compressed; the layout's tar itself is not.
    return '.tar';
  },
  async write(input, options, destPath) {
    ociLayerCompressor(options);
    const plan = planImage(input, options);
    checkDestination(destPath);
    await writeOciArchive(plan, options, destPath, progressOf(input, plan));
  },
};
