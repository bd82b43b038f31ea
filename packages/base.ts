/**
 * Base libraries and tools that the HPC stack needs: compression libraries, parser generators,
 * pkg-config, libxml2. Versions and hashes are Debian bookworm's source packages; where Debian
 * ships the upstream tarball unchanged the upstream URL comes first and Debian's pool second,
 * and where Debian repacks it (`.dfsg`, `+ds`) the Debian file is the source.
 */
import { definePackage, licenses, url } from '../src/dsl/index.js';
import { gnu } from './build-systems.js';

export const zlib = definePackage({
  name: 'zlib',
  version: '1.2.13',
  source: url({
    // Debian repacks zlib (.dfsg: contrib/ removed), so its file is the source.
    urls: 'mirror://debian/pool/main/z/zlib/zlib_1.2.13.dfsg.orig.tar.bz2',
    sha256: '71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1',
  }),
  buildSystem: gnu,
  arguments: {
    // zlib's configure is not autoconf: it rejects unknown options, so none are added.
    phases: { configure: './configure --prefix="$out"' },
  },
  synopsis: 'Compression library',
  description:
    'zlib is a lossless data-compression library implementing the deflate format used by gzip and PNG. It is small, portable and free of patents.',
  homePage: 'https://zlib.net/',
  license: licenses.zlib,
});
