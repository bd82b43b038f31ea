import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { removeTree } from '../../src/pack/compress.js';
import { docker, oci, parseImageTag, popularity, splitLayers } from '../../src/pack/docker.js';
import { GREETING, makeClosure } from './fixtures/closure.js';
import type { FakeClosure } from './fixtures/closure.js';
import { itWith } from './fixtures/tools.js';

// One closure for the file (building it compiles a static program); a fresh output dir per test.
let base: string;
let closure: FakeClosure;
let dir: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tsdsl-docker-closure-'));
  closure = makeClosure(base);
});
afterAll(() => removeTree(base));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsdsl-docker-'));
});
afterEach(() => removeTree(dir));

function run(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The members of the tar `file` (or of a member of it, with `member`). */
function members(file: string, member?: string): string[] {
  if (member === undefined) return run('tar', ['-tf', file]).trim().split('\n');
  const r = spawnSync('sh', ['-c', 'tar -xOf "$1" "$2" | tar -t', 'sh', file, member], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return r.stdout.trim().split('\n');
}

function extract(file: string, member: string): Buffer {
  const r = spawnSync('tar', ['-xOf', file, member], { maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tar -xOf ${file} ${member}: ${r.stderr}`);
  return r.stdout;
}

describe('layering by popularity', () => {
  const refs = new Map<string, string[]>([
    ['/s/glibc', ['/s/glibc']],
    ['/s/gcc-lib', ['/s/glibc']],
    ['/s/hwloc', ['/s/glibc', '/s/gcc-lib', '/s/hwloc']],
    ['/s/bash', ['/s/glibc']],
    ['/s/profile', ['/s/hwloc', '/s/bash']],
    ['/s/outside', ['/s/glibc']],
  ]);
  const items = ['/s/profile', '/s/hwloc', '/s/bash', '/s/gcc-lib', '/s/glibc'];

  it('counts the items whose closure holds each item', () => {
    expect(Object.fromEntries(popularity(items, refs))).toEqual({
      '/s/glibc': 5,
      '/s/gcc-lib': 3,
      '/s/hwloc': 2,
      '/s/bash': 2,
      '/s/profile': 1,
    });
  });

  it('gives the most popular items a layer each and the rest the last one', () => {
    expect(splitLayers(items, refs, 3)).toEqual([['/s/glibc'], ['/s/gcc-lib'], ['/s/bash', '/s/hwloc', '/s/profile']]);
    // Ties (bash and hwloc) are broken by store path.
    expect(splitLayers(items, refs, 4)).toEqual([['/s/glibc'], ['/s/gcc-lib'], ['/s/bash'], ['/s/hwloc', '/s/profile']]);
    // More layers than items: every item alone, plus the (empty) layer of links and /tmp.
    expect(splitLayers(items, refs, 10)).toHaveLength(6);
    expect(splitLayers(items, refs, 10).at(-1)).toEqual([]);
    expect(splitLayers(items, undefined, undefined)).toEqual([[...items].sort()]);
  });

  it('refuses fewer than 2 layers, and layers without references', () => {
    expect(() => splitLayers(items, refs, 1)).toThrow(/--max-layers must be an integer of at least 2/);
    expect(() => splitLayers(items, refs, 2.5)).toThrow(/at least 2/);
    expect(() => splitLayers(items, undefined, 3)).toThrow(/needs the references/);
  });
});

describe('image tags', () => {
  it('accepts name:tag, a registry with a port, and a bare name', () => {
    expect(parseImageTag('hwloc:2.9.0')).toEqual({ repository: 'hwloc', tag: '2.9.0' });
    expect(parseImageTag('localhost:5000/team/hwloc')).toEqual({ repository: 'localhost:5000/team/hwloc', tag: 'latest' });
  });
  it('refuses what Docker refuses', () => {
    expect(() => parseImageTag('HWLOC:1')).toThrow(/invalid image tag `HWLOC:1`/);
    expect(() => parseImageTag('a:b:c')).toThrow(/invalid image tag/);
  });
});

describe('docker-archive', () => {
  itWith(['tar'])('holds manifest.json, the config named by its digest, layers with matching diff_ids, and repositories', async () => {
    const file = join(dir, 'image.tar');
    await docker.write(closure.input, { imageTag: 'tsdsl/hello:1.0' }, file);
    const manifest = JSON.parse(extract(file, 'manifest.json').toString());
    expect(manifest).toHaveLength(1);
    expect(manifest[0].RepoTags).toEqual(['tsdsl/hello:1.0']);
    const configBytes = extract(file, manifest[0].Config);
    expect(manifest[0].Config).toBe(`${createHash('sha256').update(configBytes).digest('hex')}.json`);
    const config = JSON.parse(configBytes.toString());
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:01Z' });
    expect(config.config.Env).toEqual([`PATH=${closure.input.profile}/bin`]);
    expect(config.config.Entrypoint).toEqual([`${closure.input.profile}/bin/hello`]);
    expect(config.history).toHaveLength(1);
    const layer = extract(file, manifest[0].Layers[0]);
    expect(config.rootfs.diff_ids).toEqual([`sha256:${createHash('sha256').update(layer).digest('hex')}`]);
    expect(JSON.parse(extract(file, 'repositories').toString())).toEqual({ 'tsdsl/hello': { '1.0': manifest[0].Layers[0].split('/')[0] } });
    const inLayer = members(file, manifest[0].Layers[0]);
    expect(inLayer).toEqual(expect.arrayContaining(['bin', 'dev/', 'proc/', 'sys/', 'tmp/', 'tsdsl/', 'tsdsl/store/', `${closure.paths.hello.slice(1)}/bin/hello`]));
    const tmp = run('sh', ['-c', `tar -xOf "${file}" "${manifest[0].Layers[0]}" | tar -tv --numeric-owner tmp/`]);
    expect(tmp.startsWith('drwxrwxrwt 0/0')).toBe(true);
  });

  itWith(['tar', 'ch-convert', 'ch-run'])('is converted by Charliecloud\'s ch-convert to a directory where ch-run runs the entry point as a plain user', async () => {
    const file = join(dir, 'image.tar');
    await docker.write(closure.input, {}, file);
    chmodSync(dir, 0o777);
    chmodSync(file, 0o644);
    const manifest = JSON.parse(extract(file, 'manifest.json').toString());
    const entrypoint = JSON.parse(extract(file, manifest[0].Config).toString()).config.Entrypoint as string[];
    expect(entrypoint).toEqual([`${closure.input.profile}/bin/hello`]);
    const hasUser = spawnSync('id', ['tsdsltest']).status === 0 && process.getuid?.() === 0;
    // ch-run binds the host's /dev, /proc and /sys (the image has the mount points) and, without
    // --no-passwd, /etc/passwd and /etc/group, which a closure-only image does not hold.
    const script = 'set -e; cd "$1"; tar -xf "$2" "$3"; ch-convert -i tar -o dir "$3" img >/dev/null 2>&1; shift 3; exec ch-run --no-passwd img -- "$@"';
    const argv = ['sh', '-c', script, 'sh', dir, file, manifest[0].Layers[0], ...entrypoint];
    const r = hasUser
      ? spawnSync('runuser', ['-u', 'tsdsltest', '--', 'env', 'USER=tsdsltest', ...argv], { encoding: 'utf8' })
      : spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, USER: process.env['USER'] ?? 'root' } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(GREETING);
  });

  itWith(['skopeo'])('passes skopeo inspect with its env, entry point and layers', async () => {
    const file = join(dir, 'image.tar');
    await docker.write(closure.input, {}, file);
    const info = JSON.parse(run('skopeo', ['inspect', `docker-archive:${file}`]));
    expect(info.Layers).toHaveLength(1);
    expect(info.Env).toEqual([`PATH=${closure.input.profile}/bin`]);
    expect(info.Architecture).toBe('amd64');
    const config = JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${file}`]));
    expect(config.config.Entrypoint).toEqual([`${closure.input.profile}/bin/hello`]);
  });

  itWith(['skopeo', 'umoci'])('copies to an OCI layout with skopeo and unpacks with umoci into a rootfs holding the closure', async () => {
    const file = join(dir, 'image.tar');
    await docker.write(closure.input, { maxLayers: 3, references: closure.references }, file);
    const layout = join(dir, 'layout');
    run('skopeo', ['copy', '-q', `docker-archive:${file}`, `oci:${layout}:hello`]);
    const bundle = join(dir, 'bundle');
    run('umoci', ['unpack', '--rootless', '--image', `${layout}:hello`, bundle]);
    const store = join(bundle, 'rootfs', 'tsdsl', 'store');
    expect(readdirSync(store).sort()).toEqual(closure.input.items.map((i) => i.path.split('/').pop()).sort());
    expect(readFileSync(join(bundle, 'rootfs', closure.paths.greeting, 'share', 'greeting.txt'), 'utf8')).toBe(GREETING);
    const runtime = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    expect(runtime.process.args).toEqual([`${closure.input.profile}/bin/hello`]);
    if (closure.helloKind === 'static') expect(run('chroot', [join(bundle, 'rootfs'), '/bin/hello'])).toBe(GREETING);
  });

  itWith(['skopeo', 'tar'])('with maxLayers, puts the most shared item alone in the first layer', async () => {
    for (const [max, expected] of [
      [2, 2],
      [3, 3],
      [4, 4],
      [9, 5], // 4 items, each alone, plus the layer of links and /tmp
    ] as const) {
      const file = join(dir, `image-${max}.tar`);
      await docker.write(closure.input, { maxLayers: max, references: closure.references }, file);
      expect(JSON.parse(run('skopeo', ['inspect', `docker-archive:${file}`])).Layers).toHaveLength(expected);
      const manifest = JSON.parse(extract(file, 'manifest.json').toString());
      const first = members(file, manifest[0].Layers[0]).filter((m) => m.startsWith('tsdsl/store/') && m.split('/').length === 4);
      expect(first).toEqual([`${closure.paths.greeting.slice(1)}/`]);
      const last = members(file, manifest[0].Layers.at(-1));
      expect(last).toContain('bin');
      expect(last).toContain('tmp/');
    }
  });

  it('refuses maxLayers < 2 and an unknown compressor before creating anything', async () => {
    const file = join(dir, 'out', 'image.tar');
    await expect(docker.write(closure.input, { maxLayers: 1, references: closure.references }, file)).rejects.toThrow(/at least 2/);
    await expect(docker.write(closure.input, { compression: 'gzipp' }, file)).rejects.toThrow(/did you mean `gzip`/);
    expect(readdirSync(dir)).not.toContain('out');
  });
});

describe('OCI image layout', () => {
  itWith(['skopeo', 'tar'])('has oci-layout, index.json and blobs named by digest, with the OCI media types', async () => {
    const file = join(dir, 'image.oci.tar');
    await oci.write(closure.input, { imageTag: 'hello:1.0', maxLayers: 2, references: closure.references }, file);
    const names = members(file);
    expect(names).toEqual(expect.arrayContaining(['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/']));
    expect(JSON.parse(extract(file, 'oci-layout').toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(extract(file, 'index.json').toString());
    expect(index.manifests[0].mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('1.0');
    for (const n of names.filter((m) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(m))) {
      expect(createHash('sha256').update(extract(file, n)).digest('hex')).toBe(n.split('/').pop());
    }
    const manifest = JSON.parse(extract(file, `blobs/sha256/${index.manifests[0].digest.slice(7)}`).toString());
    expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);
    const info = JSON.parse(run('skopeo', ['inspect', `oci-archive:${file}`]));
    expect(info.Layers).toHaveLength(2);
    expect(info.Env).toEqual([`PATH=${closure.input.profile}/bin`]);
  });

  itWith(['skopeo', 'umoci'])('is copied by skopeo and unpacked by umoci (gzip and uncompressed layers)', async () => {
    for (const compression of ['gzip', 'none']) {
      const file = join(dir, `image-${compression}.tar`);
      await oci.write(closure.input, { compression }, file);
      const layout = join(dir, `layout-${compression}`);
      run('skopeo', ['copy', '-q', `oci-archive:${file}`, `oci:${layout}:t`]);
      const bundle = join(dir, `bundle-${compression}`);
      run('umoci', ['unpack', '--rootless', '--image', `${layout}:t`, bundle]);
      expect(readFileSync(join(bundle, 'rootfs', closure.paths.greeting, 'share', 'greeting.txt'), 'utf8')).toBe(GREETING);
    }
  });

  // umoci 0.4 (Debian bookworm) predates zstd layers, so these are checked by hand.
  itWith(['skopeo', 'zstd', 'tar'])('has zstd layers whose decompressed digest is the diff_id, which skopeo copies', async () => {
    const file = join(dir, 'image-zstd.tar');
    await oci.write(closure.input, { compression: 'zstd', maxLayers: 2, references: closure.references }, file);
    const index = JSON.parse(extract(file, 'index.json').toString());
    const manifest = JSON.parse(extract(file, `blobs/sha256/${index.manifests[0].digest.slice(7)}`).toString());
    const config = JSON.parse(extract(file, `blobs/sha256/${manifest.config.digest.slice(7)}`).toString());
    for (const [i, layer] of manifest.layers.entries()) {
      expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
      const r = spawnSync('sh', ['-c', 'tar -xOf "$1" "$2" | zstd -dc', 'sh', file, `blobs/sha256/${layer.digest.slice(7)}`], { maxBuffer: 64 * 1024 * 1024 });
      expect(`sha256:${createHash('sha256').update(r.stdout).digest('hex')}`).toBe(config.rootfs.diff_ids[i]);
    }
    run('skopeo', ['copy', '-q', `oci-archive:${file}`, `oci:${join(dir, 'layout-zstd')}:t`]);
  });

  it('refuses xz layers, which the OCI spec does not define', async () => {
    await expect(oci.write(closure.input, { compression: 'xz' }, join(dir, 'x.tar'))).rejects.toThrow(/OCI images cannot have xz-compressed layers/);
    expect(readdirSync(dir).filter((n) => n.includes('x.tar'))).toEqual([]);
  });
});
