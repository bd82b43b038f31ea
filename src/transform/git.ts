/**
 * Git look-ups for `--with-branch`, `--with-commit` and `--with-git-url`: the `git` command
 * against any URL it accepts (https, ssh, file://, a local path), run synchronously because a
 * transformation is a plain function. Only references are resolved here; the checkout is
 * fetched and hashed when the source is lowered.
 */
import { execFileSync } from 'node:child_process';
import { TsdslError, causeOf } from '../errors.js';

const cache = new Map<string, Array<{ ref: string; commit: string }>>();

/** `git ls-remote URL` as (ref, commit) pairs; a URL that does not answer is a clear error. */
export function lsRemote(url: string): Array<{ ref: string; commit: string }> {
  const hit = cache.get(url);
  if (hit) return hit;
  let text: string;
  try {
    text = execFileSync('git', ['ls-remote', '--symref', url], {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' },
    });
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT') throw new TsdslError('the `git` command is not installed; install git to use --with-branch, --with-commit or --with-git-url');
    const why = causeOf(err.stderr ?? err.message, 'no answer');
    throw new TsdslError(`git repository \`${url}\` does not answer (${why}); check the URL, or that you can reach it with \`git ls-remote ${url}\``);
  }
  const refs: Array<{ ref: string; commit: string }> = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{40,64})\t(.+)$/.exec(line);
    if (m) refs.push({ commit: m[1]!, ref: m[2]! });
    const sym = /^ref: (refs\/heads\/\S+)\tHEAD$/.exec(line);
    if (sym) refs.push({ commit: `ref:${sym[1]}`, ref: 'HEAD-SYMREF' });
  }
  cache.set(url, refs);
  return refs;
}

/** The commit a branch points to. */
export function resolveBranch(url: string, branch: string): string {
  const hit = lsRemote(url).find((r) => r.ref === `refs/heads/${branch}`);
  if (!hit) {
    const branches = lsRemote(url).filter((r) => r.ref.startsWith('refs/heads/')).map((r) => r.ref.slice(11));
    throw new TsdslError(`git repository \`${url}\` has no branch \`${branch}\` (branches: ${branches.join(', ') || 'none'})`);
  }
  return hit.commit;
}

/** A tag's commit (peeled), or undefined when `name` is not a tag. */
export function resolveTag(url: string, name: string): string | undefined {
  const refs = lsRemote(url);
  return refs.find((r) => r.ref === `refs/tags/${name}^{}`)?.commit ?? refs.find((r) => r.ref === `refs/tags/${name}`)?.commit;
}

/** The default branch and its commit. */
export function resolveHead(url: string): { branch: string; commit: string } {
  const refs = lsRemote(url);
  const sym = refs.find((r) => r.ref === 'HEAD-SYMREF');
  const head = refs.find((r) => r.ref === 'HEAD');
  if (!head) throw new TsdslError(`git repository \`${url}\` has no HEAD (is it empty?)`);
  return { branch: sym ? sym.commit.replace('ref:refs/heads/', '') : 'HEAD', commit: head.commit };
}

/** True for a full or abbreviated commit id (7+ hex digits). */
export function isCommitId(s: string): boolean {
  return /^[0-9a-f]{7,64}$/.test(s);
}
