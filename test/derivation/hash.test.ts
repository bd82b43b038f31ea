import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_STORE_DIR,
  compressHash,
  formatHash,
  isStorePath,
  makeFixedOutputPath,
  makeSourcePath,
  makeStorePath,
  makeTextPath,
  nix32Decode,
  nix32Encode,
  nix32Length,
  parseHash,
  parseStorePath,
  sha256,
  storeDirFromEnv,
  storePathHash,
  storePathName,
  validateStoreName,
} from '../../src/derivation/hash.js';
import type { HashAlgo } from '../../src/derivation/hash.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const bytes = (n: number, f: (i: number) => number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => f(i) & 0xff));

describe('nix32', () => {
  // nix-formats.md §3.1, generated with `nix-hash --to-base32` (Nix 2.8).
  const vectors: [string, Buffer, string][] = [
    ['md5 bytes 0..15', bytes(16, (i) => i), '0g1q6hq2qa1440f1h50h1h4080'],
    ['sha1 bytes 0..19', bytes(20, (i) => i), '2c91240g1q6hq2qa1440f1h50h1h4080'],
    ['sha256 bytes 0..31', bytes(32, (i) => i), '07qy3lf1n6hr30bic58l2c91240g1q6hq2qa1440f1h50h1h4080'],
    ['sha256 all ff', Buffer.alloc(32, 0xff), '1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz'],
    ['sha256 01 then zeros', bytes(32, (i) => (i === 0 ? 1 : 0)), '0000000000000000000000000000000000000000000000000001'],
    ['sha256 zeros then 80', bytes(32, (i) => (i === 31 ? 0x80 : 0)), '1000000000000000000000000000000000000000000000000000'],
    ['sha256 zeros then 01', bytes(32, (i) => (i === 31 ? 1 : 0)), '0080000000000000000000000000000000000000000000000000'],
    ['sha1 zeros then 80', bytes(20, (i) => (i === 19 ? 0x80 : 0)), 'h0000000000000000000000000000000'],
    [
      'sha512 3i mod 256',
      bytes(64, (i) => 3 * i),
      '2yvmdxln6papa55lagrr6cnjf88v2l7hj0pwyvqfmr6yv39crin0pasaxa52kjb912l4grw74v36c1d58kj888y3cc1a4hg1h4hc0q0',
    ],
    ['sha1 hash-convert.sh', hex('800d59cfcd3c05e900cb4e214be48f6b886a08df'), 'vw46m23bizj4n8afrc0fj19wrp7mj3c0'],
    ['sha256 of abc', hex('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'), '1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s'],
    [
      'sha512 hash-convert.sh',
      hex('204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445'),
      '12k9jiq29iyqm03swfsgiw5mlqs173qazm3n7daz43infy12pyrcdf30fkk3qwv4yl2ick8yipc2mqnlh48xsvvxl60lbx8vp38yji0',
    ],
  ];
  for (const [label, input, expected] of vectors) {
    it(`encodes and decodes ${label}`, () => {
      expect(nix32Encode(input)).toBe(expected);
      expect(nix32Decode(expected).equals(input)).toBe(true);
    });
  }

  it('has the lengths Nix uses', () => {
    expect([16, 20, 32, 64].map(nix32Length)).toEqual([26, 32, 52, 103]);
    expect(nix32Encode(new Uint8Array(0))).toBe('');
  });

  it('round-trips random digests of every size', () => {
    for (const size of [1, 2, 5, 16, 20, 32, 64]) {
      for (let k = 0; k < 50; k++) {
        const b = createHash('sha512').update(`${size}:${k}`).digest().subarray(0, size);
        expect(nix32Decode(nix32Encode(b)).equals(b)).toBe(true);
      }
    }
  });

  it('rejects characters outside the alphabet', () => {
    expect(() => nix32Decode('1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5e')).toThrow(/invalid character `e`.*position 51/);
    expect(() => nix32Decode('0g1q6hq2qa1440f1h50h1h408u')).toThrow(/invalid character `u`/);
    expect(() => nix32Decode('0g1q6hq2qa1440f1h50h1h408é')).toThrow(/invalid character/);
  });

  it('rejects a top group that overflows the byte length', () => {
    // 52 characters hold 260 bits; a 32-byte digest has 256, so the first digit must be < 2.
    expect(() => nix32Decode('2' + '0'.repeat(51))).toThrow(/bits set beyond its 32-byte length/);
    // 26 characters hold 130 bits for a 16-byte digest: the first digit must be < 8.
    expect(() => nix32Decode('8' + '0'.repeat(25))).toThrow(/bits set beyond its 16-byte length/);
    expect(nix32Decode('7' + '0'.repeat(25)).length).toBe(16);
    // 32 characters hold exactly 160 bits, so every sha1 string decodes.
    expect(nix32Decode('z'.repeat(32)).equals(Buffer.alloc(20, 0xff))).toBe(true);
  });

  it('rejects lengths that encode no byte count', () => {
    expect(nix32Decode('0'.repeat(50)).length).toBe(31);
    expect(nix32Decode('0'.repeat(2)).length).toBe(1);
    expect(() => nix32Decode('0'.repeat(51))).toThrow(/51 characters, which no byte length encodes/);
    expect(() => nix32Decode('0'.repeat(3))).toThrow(/no byte length encodes/);
  });
});

describe('compressHash', () => {
  it('XOR-folds SHA-256("abc") to 20 bytes (§3.1)', () => {
    const folded = compressHash(sha256('abc'), 20);
    expect(folded.toString('hex')).toBe('2c6f6c233b11308bb34155735dae2223b00361a3');
    expect(nix32Encode(folded)).toBe('ldhh7c134ap5swsm86rqnc0i7cinqvrc');
  });

  it('is not a truncation', () => {
    const d = sha256('abc');
    expect(compressHash(d, 20).equals(d.subarray(0, 20))).toBe(false);
    expect(compressHash(d, 32).equals(d)).toBe(true);
  });
});

describe('parseHash and formatHash', () => {
  const abc = hex('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const forms = [
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD',
    '1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
    'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=',
    'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=',
    'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
    'sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=',
  ];
  for (const form of forms) {
    it(`reads ${form.slice(0, 24)}…`, () => {
      const h = parseHash(form, 'sha256');
      expect(h.algo).toBe('sha256');
      expect(h.digest.equals(abc)).toBe(true);
      expect(parseHash(form).digest.equals(abc)).toBe(true);
    });
  }

  it('writes every notation', () => {
    const h = { algo: 'sha256' as HashAlgo, digest: abc };
    expect(formatHash(h, 'base16')).toBe(forms[0]);
    expect(formatHash(h, 'nix32')).toBe(forms[2]);
    expect(formatHash(h, 'base64')).toBe(forms[3]);
    expect(formatHash(h, 'sri')).toBe(forms[4]);
  });

  it('reads sha1 and sha512 conversion triples (hash-convert.sh)', () => {
    const sha1 = hex('800d59cfcd3c05e900cb4e214be48f6b886a08df');
    for (const f of ['vw46m23bizj4n8afrc0fj19wrp7mj3c0', 'gA1Zz808BekAy04hS+SPa4hqCN8=', 'sha1-gA1Zz808BekAy04hS+SPa4hqCN8=']) {
      expect(parseHash(f, 'sha1').digest.equals(sha1)).toBe(true);
    }
    const h512 = parseHash(
      'sha512:12k9jiq29iyqm03swfsgiw5mlqs173qazm3n7daz43infy12pyrcdf30fkk3qwv4yl2ick8yipc2mqnlh48xsvvxl60lbx8vp38yji0',
    );
    expect(h512.algo).toBe('sha512');
    expect(h512.digest.toString('hex')).toBe(
      '204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445',
    );
  });

  it('hashes SMASH THE STATE flat (hash-path.sh)', () => {
    expect(nix32Encode(sha256('SMASH THE STATE'))).toBe('0d9n3r2i4m1zgy0wpqbsyabsfzgs952066bfp8gwvcg4mkr4r5g8');
  });

  it('says what it expected for a wrong length', () => {
    expect(() => parseHash('abc', 'sha256')).toThrow(
      'sha256 hash `abc` has 3 characters; expected 64 hex, 52 nix-base32 or 44 base64 characters, or an SRI `sha256-…` string',
    );
  });

  it('rejects mismatched algorithms and unknown prefixes', () => {
    expect(() => parseHash('sha1-gA1Zz808BekAy04hS+SPa4hqCN8=', 'sha256')).toThrow(/is sha1, but sha256 was expected/);
    expect(() => parseHash('blake3:abcd')).toThrow(/unknown algorithm `blake3`/);
    expect(() => parseHash('sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0')).toThrow(/SRI hash/);
  });

  it('rejects malformed digests of the right length', () => {
    expect(() => parseHash('g'.repeat(64), 'sha256')).toThrow(/characters outside 0-9a-f/);
    expect(() => parseHash('e'.repeat(52), 'sha256')).toThrow(/not valid nix-base32/);
    expect(() => parseHash('!'.repeat(44), 'sha256')).toThrow(/not valid base64/);
  });

  it('needs an algorithm when the length is ambiguous', () => {
    // 32 characters: md5 in hex or sha1 in nix32.
    expect(() => parseHash('0'.repeat(32))).toThrow(/could be md5 or sha1/);
    expect(parseHash('0'.repeat(32), 'md5').digest.length).toBe(16);
    expect(parseHash('0'.repeat(32), 'sha1').digest.length).toBe(20);
  });
});

describe('store names', () => {
  it('accepts names Nix accepts', () => {
    for (const n of ['hello-2.10', 'a', 'x.drv', 'foo+bar_baz?=1', '..a', '.a', 'a'.repeat(211)]) {
      expect(validateStoreName(n)).toBeUndefined();
    }
  });

  it('rejects names Nix rejects, with a sentence', () => {
    expect(validateStoreName('')).toMatch(/empty/);
    expect(validateStoreName('a'.repeat(212))).toMatch(/212 characters long; the limit is 211/);
    expect(validateStoreName('hello world')).toMatch(/contains ` `/);
    expect(validateStoreName('ü')).toMatch(/contains `ü`/);
    expect(validateStoreName('a/b')).toMatch(/contains `\/`/);
    for (const n of ['.', '..', '.-foo', '..-foo']) expect(validateStoreName(n)).toMatch(/forbids/);
  });
});

describe('store paths', () => {
  it('computes the worked output path of §1.6 from the masked hash', () => {
    const inner = hex('66a0902ebab09885a5c507a1a5a126edb564194fbe0c9838acae875f72d2432a');
    expect(makeStorePath('output:out', inner, 'x', '/nix/store')).toBe('/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7-x');
  });

  it('computes text paths (builtins.toFile)', () => {
    expect(makeTextPath('t0.txt', 'no refs here', [], '/nix/store')).toBe('/nix/store/60z36hskhxd6zhv0mbyaq6sk8d00lhbs-t0.txt');
  });

  it('sorts and de-duplicates text references', () => {
    const a = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a';
    const b = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b';
    const p1 = makeTextPath('t', 'x', [b, a, b], '/nix/store');
    expect(p1).toBe(makeTextPath('t', 'x', [a, b], '/nix/store'));
    expect(p1).not.toBe(makeTextPath('t', 'x', [a], '/nix/store'));
  });

  it('computes content-addressed paths of eval-okay-path (§3.3)', () => {
    const flat = parseHash('0k4lwj58f2w5yh92ilrwy9917pycipbrdrr13vbb3yd02j09vfxm', 'sha256');
    expect(makeFixedOutputPath('output', { method: 'flat', algo: 'sha256', digest: flat.digest }, '/nix/store')).toBe(
      '/nix/store/m7y372g6jb0g4hh1dzmj847rd356fhnz-output',
    );
    const nar1 = parseHash('02vlkcjkl1rvy081n6d40qi73biv2w4b9x9biklay4ncgk77zr1f', 'sha256');
    expect(makeFixedOutputPath('output', { method: 'recursive', algo: 'sha256', digest: nar1.digest }, '/nix/store')).toBe(
      '/nix/store/a517xfygy9w2q5i3c2dbm50sw4p70b4c-output',
    );
    const nar2 = parseHash('1yhm3gwvg5a41yylymgblsclk95fs6jy72w0wv925mmidlhcq4sw', 'sha256');
    expect(makeSourcePath('output', nar2.digest, [], '/nix/store')).toBe('/nix/store/ya937r4ydw0l6kayq8jkyqaips9c75jm-output');
  });

  it('computes a source path with a reference and self (nar-info.cc vector)', () => {
    const narHash = sha256('(...)');
    expect(formatHash({ algo: 'sha256', digest: narHash }, 'nix32')).toBe('1lr187v6dck1rjh2j6svpikcfz53wyl3qrlcbb405zlh13x0khhh');
    expect(makeSourcePath('foo', narHash, ['/nix/store/g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-bar'], '/nix/store', true)).toBe(
      '/nix/store/n5wkd9frr45pa74if5gpz9j7mifg27fh-foo',
    );
  });

  it('computes the FOD output of the hash-modulo vectors (recursive sha256 is a source path)', () => {
    const digest = parseHash('sha256-iUUXyRY8iW7DGirb0zwGgf1fRbLA7wimTJKgP7l/OQ8=').digest;
    expect(makeFixedOutputPath('source', { method: 'recursive', algo: 'sha256', digest }, '/nix/store')).toBe(
      '/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source',
    );
  });

  it('uses output:out over fixed:out: for other content addresses and forbids their references', () => {
    const digest = sha256('SMASH THE STATE').subarray(0, 20);
    const flatSha1 = makeFixedOutputPath('x', { method: 'flat', algo: 'sha1', digest }, '/nix/store');
    const recSha1 = makeFixedOutputPath('x', { method: 'recursive', algo: 'sha1', digest }, '/nix/store');
    const inner = (s: string): Buffer => sha256(s);
    expect(flatSha1).toBe(makeStorePath('output:out', inner(`fixed:out:sha1:${digest.toString('hex')}:`), 'x', '/nix/store'));
    expect(recSha1).toBe(makeStorePath('output:out', inner(`fixed:out:r:sha1:${digest.toString('hex')}:`), 'x', '/nix/store'));
    expect(() =>
      makeFixedOutputPath('x', { method: 'flat', algo: 'sha1', digest }, '/nix/store', ['/nix/store/g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-bar']),
    ).toThrow(/cannot have references/);
    expect(() => makeFixedOutputPath('x', { method: 'flat', algo: 'sha256', digest }, '/nix/store')).toThrow(/20 bytes instead of 32/);
  });

  it('puts the store dir in the fingerprint', () => {
    const h = sha256('x');
    expect(makeStorePath('text', h, 'n', '/nix/store').slice(11)).not.toBe(makeStorePath('text', h, 'n', '/gnu/store').slice(11));
  });

  it('refuses invalid names', () => {
    expect(() => makeTextPath('a b', 'x', [], '/nix/store')).toThrow(/contains ` `/);
  });

  it('splits store paths', () => {
    const p = '/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7-x';
    expect(storePathHash(p)).toBe('zr2knphxg8yyy2mkq8akf2hfknjvdiz7');
    expect(storePathName(p)).toBe('x');
    expect(parseStorePath(p, '/nix/store')).toEqual({ storeDir: '/nix/store', hash: 'zr2knphxg8yyy2mkq8akf2hfknjvdiz7', name: 'x' });
    expect(isStorePath(p, '/gnu/store')).toBe(false);
    expect(isStorePath('/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7')).toBe(false);
    expect(isStorePath('/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdize-x')).toBe(false);
    expect(() => storePathName('/nix/store/foo')).toThrow(/32-character hash/);
  });
});

describe('storeDirFromEnv', () => {
  it('defaults to /tsdsl/store', () => {
    expect(storeDirFromEnv({})).toBe(DEFAULT_STORE_DIR);
    expect(storeDirFromEnv({ TSDSL_STORE_DIR: '' })).toBe('/tsdsl/store');
  });
  it('reads TSDSL_STORE_DIR', () => {
    expect(storeDirFromEnv({ TSDSL_STORE_DIR: '/nix/store' })).toBe('/nix/store');
  });
  it('rejects relative dirs and trailing slashes', () => {
    expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: 'nix/store' })).toThrow(/TSDSL_STORE_DIR `nix\/store` is not absolute/);
    expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: '/nix/store/' })).toThrow(/remove the trailing slash/);
    expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: '/nix/../store' })).toThrow(/not a normalised/);
    for (const bad of ['/nix\nstore', '/nix\0store', '/ni"x/store', '/nix\\store']) {
      expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: bad })).toThrow(/contains a quote, backslash or control character/);
    }
    expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: '/a b/store' })).toThrow(/contains a space, which would split every list of store paths/);
    expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: '/a:b/store' })).toThrow(/contains `:`, which would split every search path a build sets/);
    expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: "/a'b/store" })).toThrow(/contains `'`, which the build's shell scripts would read as quoting/);
    expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: '/a$b/store' })).toThrow(/contains `\$`/);
    expect(() => storeDirFromEnv({ TSDSL_STORE_DIR: `/${'a'.repeat(256)}` })).toThrow(/has a component of 256 bytes .* more than the 255 a file name may have/);
    expect(storeDirFromEnv({ TSDSL_STORE_DIR: `/${'a'.repeat(255)}/st@re+x_1.2-3~4` })).toBe(`/${'a'.repeat(255)}/st@re+x_1.2-3~4`);
  });
});

describe('the native Buffer calls lowering makes (buffer-native.ts)', () => {
  it('write and read as the documented calls do, non-ASCII and a short buffer included; so do the stand-ins', async () => {
    const { latin1Slice, nativeBufferMethods, utf8Write } = await import('../../src/derivation/buffer-native.js');
    expect(utf8Write).toBe((Buffer.prototype as unknown as { utf8Write: unknown }).utf8Write);
    const standIn = nativeBufferMethods({});
    for (const m of [{ utf8Write, latin1Slice }, standIn]) {
      for (const s of ['/nix/store/abc-hwloc-2.9.0', 'stö', '', 'x'.repeat(40)]) {
        const a = Buffer.alloc(64, 0xff);
        const b = Buffer.alloc(64, 0xff);
        expect(m.utf8Write.call(a, s, 3, 61)).toBe(b.write(s, 3, 61, 'utf8'));
        expect(a).toEqual(b);
        expect(m.latin1Slice.call(a, 2, 20)).toBe(b.toString('latin1', 2, 20));
      }
      // Fewer bytes than the string has when it does not fit, as write() says.
      const short = Buffer.alloc(8);
      expect(m.utf8Write.call(short, 'abcdefghij', 2, 6)).toBe(6);
      expect(short.toString('latin1')).toBe('\0\0abcdef');
    }
  });
});
