/**
 * Unpacking a pack for `tsdsl run`: a tarball is unpacked once into a per-user cache keyed by
 * its sha256 (`~/.cache/tsdsl/packs/<hash>`), so reruns start at once. Members are listed and
 * checked before anything is written: an absolute name, a `..` component, or a hard link
 * leaving the archive is refused, so nothing can land outside the cache. Unpacking goes to a
 * temporary directory renamed into place, so an interrupted unpack is never mistaken for one.
 */
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TsdslError } from '../errors.js';

/** The per-user cache of unpacked packs. */
export function packCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['TSDSL_PACK_CACHE']) return env['TSDSL_PACK_CACHE'];
  const base = env['XDG_CACHE_HOME'] && env['XDG_CACHE_HOME'].startsWith('/') ? env['XDG_CACHE_HOME'] : join(env['HOME'] || homedir(), '.cache');
  return join(base, 'tsdsl', 'packs');
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function bad(name: string): boolean {
  const n = name.replace(/^\.\//, '');
  return n.startsWith('/') || n.split('/').includes('..');
}

/** Unpack a tarball pack (once) and return the root directory. */
export async function unpackPack(file: string, cacheDir = packCacheDir()): Promise<string> {
  if (!existsSync(file)) throw new TsdslError(`pack \`${file}\` does not exist`);
  const hash = await sha256File(file);
  const dest = join(cacheDir, hash);
  if (existsSync(join(dest, '.tsdsl-unpacked'))) return dest;
  // List first: names and hard-link targets must stay inside the archive.
  const list = spawnSync('tar', ['-tvf', file, '--quoting-style=escape'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (list.status !== 0) {
    throw new TsdslError(`\`${file}\` is not a readable tar archive (${list.stderr.trim().split('\n').pop() ?? 'tar failed'}); is it truncated, or not a tarball pack?`);
  }
  const names = spawnSync('tar', ['-tf', file], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout.split('\n').filter(Boolean);
  const offending = names.filter(bad);
  for (const line of list.stdout.split('\n')) {
    const m = / link to (.*)$/.exec(line);
    if (line.startsWith('h') && m && bad(m[1]!)) offending.push(`${line} (hard link)`);
  }
  if (offending.length) {
    throw new TsdslError(`\`${file}\` has members that would be written outside the unpacked pack (${offending.slice(0, 3).join(', ')}); refusing to unpack it`);
  }
  if (!names.some((n) => /^(\.\/)?[^/]+\/store\//.test(n))) {
    throw new TsdslError(`\`${file}\` is not a tsdsl pack: it holds no store directory (expected members like ./tsdsl/store/…)`);
  }
  mkdirSync(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `.tmp-${hash}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    execFileSync('tar', ['-xf', file, '-C', tmp, '--no-same-owner', '--no-same-permissions', '--delay-directory-restore'], { stdio: ['ignore', 'ignore', 'pipe'] });
    for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(join(tmp, d), { recursive: true });
    execFileSync('sh', ['-c', `: > "${join(tmp, '.tsdsl-unpacked')}"`]);
    try {
      renameSync(tmp, dest);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process finished first
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new TsdslError(`unpacking \`${file}\` failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`);
  }
  return dest;
}

/** The profile of an unpacked pack: where `/bin` points, or the only `*-profile` item. */
export function profileOf(root: string, storeDir: string): string | undefined {
  try {
    const target = readlinkSync(join(root, 'bin'));
    const m = /^(?:\/|\.\/)?(.*-profile)\//.exec(target.replace(/^\//, ''));
    if (m) return `/${m[1]}`;
  } catch {
    // no /bin link
  }
  const storeRel = storeDir.replace(/^\//, '');
  try {
    const profiles = readdirSync(join(root, storeRel)).filter((n) => n.endsWith('-profile'));
    if (profiles.length === 1) return `${storeDir}/${profiles[0]}`;
  } catch {
    return undefined;
  }
  return undefined;
}
