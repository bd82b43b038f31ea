/**
 * `tsdsl hash`: the sha256 a package file pins a source with (Guix's `guix hash`, Nix's
 * `nix hash file`/`nix hash path`). A tarball's is the file's own; a directory's, or a git
 * checkout's (`-rx`), is the hash of its NAR serialisation, exactly as tsdsl computes it for a
 * `local()` directory or a `git()` source, so the value can be written into the package.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { TsdslError, didYouMean } from '../../errors.js';
import type { HashEncoding } from '../../derivation/hash.js';
import type { Command } from '../command.js';
import { out } from '../command.js';

const LISTED_FORMATS = ['hex', 'nix32', 'base64', 'sri'];
const FORMATS: Readonly<Record<string, HashEncoding>> = { hex: 'base16', base16: 'base16', nix32: 'nix32', 'nix-base32': 'nix32', base32: 'nix32', base64: 'base64', sri: 'sri' };

export const command: Command = {
  name: 'hash',
  summary: 'print the sha256 of files or directories, as package sources pin them',
  usage: 'tsdsl hash [OPTION]... FILE...',
  details:
    'Prints the sha256 of each FILE (- for standard input), one a line, in the order given: of the file itself, or with -r of\n' +
    'its NAR serialisation (what a directory, a `local()` directory source or a `git()` checkout is pinned\n' +
    'with). -x leaves out `.git` entries at any depth, as a `git()` source is fetched: the hash of a clone\n' +
    'checked out at the commit is then the one its package writes. Hexadecimal by default, the form\n' +
    'package files keep (`tsdsl lint` asks for it); --format=nix32 or sri for Nix and Guix.',
  examples: [
    ['tsdsl hash hwloc-2.9.0.tar.bz2', 'the sha256 to write in url({ …, sha256 })'],
    ['tsdsl hash -rx ./hwloc', 'the sha256 of a git() source, from a clone checked out at its commit'],
    ['tsdsl hash -r --format=nix32 ./dir', 'as `nix hash path --base32` prints it'],
    ['xz -dc hwloc-2.9.0.tar.xz | tsdsl hash -', 'standard input: the sha256 of the decompressed tar'],
  ],
  options: [
    { name: 'recursive', short: 'r', kind: 'boolean', description: 'hash the NAR serialisation (directories, symlinks; the executable bit counts)' },
    { name: 'exclude-vcs', short: 'x', kind: 'boolean', description: 'with -r, leave out `.git` entries, as git() sources are hashed' },
    { name: 'format', short: 'f', kind: 'string', arg: 'FORMAT', description: 'hex (default), nix32, base64 or sri' },
  ],
  async run(args) {
    const files = args.positionals;
    if (files.length === 0) throw new TsdslError('tsdsl hash: no file given; try `tsdsl hash hwloc-2.9.0.tar.bz2`, or `tsdsl hash -r DIR` for a directory');
    const recursive = Boolean(args.values['recursive']);
    const excludeVcs = Boolean(args.values['exclude-vcs']);
    if (excludeVcs && !recursive) throw new TsdslError('tsdsl hash: -x/--exclude-vcs leaves entries out of a directory, so it needs -r (`tsdsl hash -rx DIR`)');
    const formatName = (args.values['format'] as string | undefined) ?? 'hex';
    const encoding = FORMATS[formatName];
    // Suggested among the formats listed (the aliases, such as base16, are accepted but not offered).
    if (!encoding) throw new TsdslError(`tsdsl hash: --format=${formatName} is not a format${formatName ? didYouMean(formatName, LISTED_FORMATS) : ''} (${LISTED_FORMATS.slice(0, -1).join(', ')} or ${LISTED_FORMATS.at(-1)})`);
    const { formatHash } = await import('../../derivation/hash.js');
    const { fileSha256, narHash } = await import('../../store/nar.js');
    const git = Buffer.from('.git');
    const lines: string[] = [];
    for (const file of files) {
      // `-`: standard input, as sha256sum reads it (`curl … | tsdsl hash -`), once.
      if (file === '-') {
        if (recursive) throw new TsdslError('tsdsl hash: -r hashes a directory or file by its NAR serialisation; standard input (`-`) is hashed as a file only, without -r');
        const { createHash } = await import('node:crypto');
        const h = createHash('sha256');
        for await (const chunk of process.stdin) h.update(chunk as Buffer);
        lines.push(formatHash({ algo: 'sha256', digest: h.digest() }, encoding));
        continue;
      }
      let st;
      try {
        st = lstatSync(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new TsdslError(`tsdsl hash: \`${file}\` ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`);
      }
      let digest: Buffer;
      try {
        if (recursive) digest = (await narHash(file, excludeVcs ? { exclude: (name) => name.equals(git) } : {})).hash;
        else {
          if (st.isDirectory()) throw new TsdslError(`tsdsl hash: \`${file}\` is a directory; hash its NAR serialisation with -r (add -x for a git checkout)`);
          // A FIFO would be read until someone writes and closes it: tsdsl hash would hang.
          if (!st.isFile() && !st.isSymbolicLink()) throw new TsdslError(`tsdsl hash: \`${file}\` is ${st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device'}, not a file; a source is a file or (with -r) a directory`);
          digest = await fileSha256(file);
        }
      } catch (e) {
        // The archiver's refusals (a FIFO inside a directory) name no command.
        if (e instanceof TsdslError) throw e.message.startsWith('tsdsl hash:') ? e : new TsdslError(`tsdsl hash: ${e.message}`, { cause: e });
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && st.isSymbolicLink()) {
          throw new TsdslError(`tsdsl hash: \`${file}\` is a symbolic link to \`${readlinkSync(file)}\`, which does not exist; hash what it should name, or hash the link itself with -r (as a NAR holds it)`);
        }
        throw new TsdslError(`tsdsl hash: \`${file}\` cannot be hashed: ${code ? `${code} reading it` : (e as Error).message}`);
      }
      lines.push(formatHash({ algo: 'sha256', digest }, encoding));
    }
    out(lines.map((l) => `${l}\n`).join(''));
    return 0;
  },
};
