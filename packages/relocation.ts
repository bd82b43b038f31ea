/**
 * What `tsdsl pack -RR` carries besides the packed programs: PRoot, the fallback that runs a
 * relocatable pack where user namespaces are off. It comes, like the bootstrap seed
 * (bootstrap.ts), from pinned Debian bookworm binary packages unpacked into store items; the
 * pack's wrappers start it through the glibc dynamic loader of `libc6` with an explicit
 * `--library-path`, so the Debian binary runs from the pack without patching its ELF header.
 *
 * Debian's PRoot 5.1.0 does not translate `statx` (shared/reference/machine-facts.md, D1):
 * programs that use it (coreutils' `ls` and `stat`) fail under it, simple programs run.
 */
import { debianBinary, definePackage, licenses, url } from '../src/dsl/index.js';
import { libc6 } from './bootstrap.js';

export const libtalloc2 = definePackage({
  name: 'libtalloc2',
  version: '2.4.0',
  source: url({
    urls: 'mirror://debian/pool/main/t/talloc/libtalloc2_2.4.0-f2_amd64.deb',
    sha256: '2cbba68ca13003a0da794f5bcc44d95d0a191514fdd2d2764858b37215f0867c',
  }),
  buildSystem: debianBinary,
  inputs: [libc6],
  synopsis: 'Hierarchical pool-based memory allocator (Samba\'s talloc)',
  description: 'talloc is a hierarchical, reference-counted memory pool allocator with destructors; PRoot links it.',
  homePage: 'https://talloc.samba.org/',
  license: licenses.lgpl3Plus,
  properties: { debianVersion: '2.4.0-f2' },
});

export const proot = definePackage({
  name: 'proot',
  version: '5.1.0',
  source: url({
    urls: 'mirror://debian/pool/main/p/proot/proot_5.1.0-1.3_amd64.deb',
    sha256: 'ba51946d76c0a681c034b93266d870db7e21b0d3230a4d2dea3bffb556271aeb',
  }),
  buildSystem: debianBinary,
  inputs: [libc6, libtalloc2],
  synopsis: 'Run programs with another root and bind mounts, unprivileged, through ptrace',
  description:
    'PRoot intercepts the system calls of a program with ptrace to give it another root directory and bind mounts, without root and without user namespaces. tsdsl pack -RR carries it as the fallback run engine of relocatable packs. This Debian build (5.1.0) does not translate statx.',
  homePage: 'https://proot-me.github.io/',
  license: licenses.gpl2Plus,
  properties: { debianVersion: '5.1.0-1.3' },
});
