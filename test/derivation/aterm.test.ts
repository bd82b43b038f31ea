import { describe, expect, it } from 'vitest';
import { compareStrings } from '../../src/compare.js';
import {
  DerivationHasher,
  EnvVars,
  derivationReferences,
  finalizeDerivation,
  isFixedOutput,
  outputPathName,
  parseDerivation,
  quoteATermString,
  serializeDerivation,
  verifyDerivation,
} from '../../src/derivation/aterm.js';
import type { Derivation } from '../../src/derivation/aterm.js';
import { compressHash, makeTextPath, nix32Encode, sha256, storePathHash } from '../../src/derivation/hash.js';

const NIX = '/nix/store';

/** A partial derivation with defaults for every field; outputs default to `out`. */
function partial(fields: Partial<Derivation> & { outputNames?: string[] } = {}): Derivation {
  const { outputNames = ['out'], ...rest } = fields;
  const outputs: Derivation['outputs'] = {};
  for (const o of outputNames) outputs[o] = { path: '', hashAlgo: '', hash: '' };
  return { outputs, inputDrvs: {}, inputSrcs: [], system: 'x86_64-linux', builder: '/bin/sh', args: [], env: {}, ...rest };
}

/** What Nix's `derivation` primitive puts in ENV for the plain attributes used here. */
function nixEnv(name: string, system: string, builder: string, extra: Record<string, string> = {}): Record<string, string> {
  return { name, system, builder, ...extra };
}

describe('the worked example of §1.6–§1.7', () => {
  const tiny = partial({ args: ['-c', 'echo hi > $out'], env: nixEnv('x', 'x86_64-linux', '/bin/sh') });

  it('masks exactly as Nix does', () => {
    const masked = serializeDerivation({ ...tiny, env: { ...tiny.env, out: '' } }, { maskOutputs: true });
    expect(masked).toBe(
      'Derive([("out","","","")],[],[],"x86_64-linux","/bin/sh",["-c","echo hi > $out"],[("builder","/bin/sh"),("name","x"),("out",""),("system","x86_64-linux")])',
    );
    expect(sha256(masked).toString('hex')).toBe('66a0902ebab09885a5c507a1a5a126edb564194fbe0c9838acae875f72d2432a');
  });

  it('computes the output and .drv paths under /nix/store', () => {
    const f = finalizeDerivation(tiny, 'x', new DerivationHasher(NIX));
    expect(f.drv.outputs['out']!.path).toBe('/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7-x');
    expect(f.drv.env['out']).toBe('/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7-x');
    expect(sha256(f.text).toString('hex').slice(0, 8)).toBe('6c4257fa');
    expect(f.drvPath).toBe('/nix/store/mh3rz2qzm0lrcxk22g2b1kifak7q2nj9-x.drv');
    expect(f.text).toBe(
      'Derive([("out","/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7-x","","")],[],[],"x86_64-linux","/bin/sh",["-c","echo hi > $out"],[("builder","/bin/sh"),("name","x"),("out","/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7-x"),("system","x86_64-linux")])',
    );
  });

  it('computes the output and .drv paths under /gnu/store', () => {
    const f = finalizeDerivation(tiny, 'x', new DerivationHasher('/gnu/store'));
    expect(f.drv.outputs['out']!.path).toBe('/gnu/store/z2sq0xrfgx4xsvypzabw8vgpfmp94g7l-x');
    expect(f.drvPath).toBe('/gnu/store/7fgfs0jhy7yppc9dly8v3ngmh77isqgq-x.drv');
  });

  it('does not modify its input and is deterministic', () => {
    const before = JSON.stringify(tiny);
    const a = finalizeDerivation(tiny, 'x', new DerivationHasher(NIX));
    const b = finalizeDerivation(tiny, 'x', new DerivationHasher(NIX));
    expect(JSON.stringify(tiny)).toBe(before);
    expect(a.text).toBe(b.text);
  });
});

describe('upstream invariants vectors (filled-in-*.json)', () => {
  it('fills a deferred output with an empty env var', () => {
    const d = partial({ env: { __doc: 'Fill in deferred output with empty env var', out: '' } });
    const f = finalizeDerivation(d, 'filled-in-deferred-empty-env-var', new DerivationHasher(NIX));
    expect(f.drv.outputs['out']!.path).toBe('/nix/store/bilpz1nq8qi9r3bzsp72n34yjgqg43ws-filled-in-deferred-empty-env-var');
  });

  it('leaves a correct path unchanged', () => {
    const d = partial({ env: { __doc: 'Correct path stays unchanged' } });
    const f = finalizeDerivation(d, 'filled-in-already', new DerivationHasher(NIX));
    expect(f.drv.outputs['out']!.path).toBe('/nix/store/w4bk7hpyxzgy2gx8fsa8f952435pll3i-filled-in-already');
    // Finalizing a finalized derivation is the identity.
    expect(finalizeDerivation(f.drv, 'filled-in-already', new DerivationHasher(NIX)).text).toBe(f.text);
  });
});

// src/libstore-tests/data/derivation/hash-modulo/ (NixOS/nix), see nix-formats.md §3.2.
const SOURCE_HASH = '894517c9163c896ec31a2adbd33c0681fd5f45b2c0ef08a64c92a03fb97f390f';
const INTERMEDIATE_FIRST =
  "Derive([(\"dev\",\"/nix/store/xgskw9kbh807ah56r4f4kxdh0fa1i0ip-intermediate-dev\",\"\",\"\"),(\"out\",\"/nix/store/jlzxv2xpqj0adi22cy93573vyf9xr6fw-intermediate\",\"\",\"\")],[(\"/nix/store/q4mzjdlh5px6977h7v5fdsk1p33yg583-source.drv\",[\"out\"])],[],\"x86_64-linux\",\"/bin/intermediate\",[],[(\"dev\",\"/nix/store/xgskw9kbh807ah56r4f4kxdh0fa1i0ip-intermediate-dev\"),(\"out\",\"/nix/store/jlzxv2xpqj0adi22cy93573vyf9xr6fw-intermediate\")])";
const INTERMEDIATE_SECOND =
  "Derive([(\"dev\",\"/nix/store/xgskw9kbh807ah56r4f4kxdh0fa1i0ip-intermediate-dev\",\"\",\"\"),(\"out\",\"/nix/store/jlzxv2xpqj0adi22cy93573vyf9xr6fw-intermediate\",\"\",\"\")],[(\"/nix/store/jwmbpldsdgfjhkxk317jn55jilyfl63f-source.drv\",[\"out\"])],[],\"x86_64-linux\",\"/bin/intermediate\",[],[(\"dev\",\"/nix/store/xgskw9kbh807ah56r4f4kxdh0fa1i0ip-intermediate-dev\"),(\"out\",\"/nix/store/jlzxv2xpqj0adi22cy93573vyf9xr6fw-intermediate\")])";
const INTERMEDIATE_FIRST_MODULO =
  "Derive([(\"dev\",\"\",\"\",\"\"),(\"out\",\"\",\"\",\"\")],[(\"42cfa58bf5a281911b6c9471c67cf64f70a820b033415190db3da91710c5ff2c\",[\"out\"])],[],\"x86_64-linux\",\"/bin/intermediate\",[],[(\"dev\",\"\"),(\"out\",\"\")])";
const PARENT_SPLIT =
  "Derive([(\"out\",\"\",\"\",\"\")],[(\"/nix/store/f8g8x4m83da3b2f79iv84q2r3qlc58lr-intermediate.drv\",[\"out\"]),(\"/nix/store/kp6i4n4bb3hlniwqjakhlf046qpdc0gl-intermediate.drv\",[\"dev\"])],[],\"x86_64-linux\",\"/bin/parent\",[],[])";
const PARENT_JOINED =
  "Derive([(\"out\",\"\",\"\",\"\")],[(\"/nix/store/kp6i4n4bb3hlniwqjakhlf046qpdc0gl-intermediate.drv\",[\"dev\",\"out\"])],[],\"x86_64-linux\",\"/bin/parent\",[],[])";
const PARENT_BOTH_MASKED =
  "Derive([(\"out\",\"\",\"\",\"\")],[(\"6df335a6cafec6b08aa38163a4a3d1b8f04bc8dc10de4ad35d677f911f2d3b5a\",[\"dev\",\"out\"])],[],\"x86_64-linux\",\"/bin/parent\",[],[])";

function sourceDrv(builder: string): Derivation {
  return partial({ builder, outputs: { out: { path: '', hashAlgo: 'r:sha256', hash: 'sha256-iUUXyRY8iW7DGirb0zwGgf1fRbLA7wimTJKgP7l/OQ8=' } } });
}

describe('upstream hash-modulo vectors', () => {
  function setup() {
    const hasher = new DerivationHasher(NIX);
    const first = finalizeDerivation(sourceDrv('/bin/first'), 'source', hasher);
    const second = finalizeDerivation(sourceDrv('/bin/second'), 'source', hasher);
    return { hasher, first, second };
  }

  it('computes fixed-output paths, .drv paths and modulo hashes', () => {
    const { first, second } = setup();
    for (const f of [first, second]) {
      expect(isFixedOutput(f.drv)).toBe(true);
      expect(f.drv.outputs['out']).toEqual({ path: '/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source', hashAlgo: 'r:sha256', hash: SOURCE_HASH });
      expect(f.hashModulo.toString('hex')).toBe('42cfa58bf5a281911b6c9471c67cf64f70a820b033415190db3da91710c5ff2c');
    }
    expect(first.drvPath).toBe('/nix/store/q4mzjdlh5px6977h7v5fdsk1p33yg583-source.drv');
    expect(second.drvPath).toBe('/nix/store/jwmbpldsdgfjhkxk317jn55jilyfl63f-source.drv');
    expect(first.text).toBe(
      `Derive([("out","/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source","r:sha256","${SOURCE_HASH}")],[],[],"x86_64-linux","/bin/first",[],[("out","/nix/store/i00sflxqsj37lfmf95m8mn0grv615hpj-source")])`,
    );
  });

  it('parses and re-prints the intermediate derivations byte for byte', () => {
    for (const text of [INTERMEDIATE_FIRST, INTERMEDIATE_SECOND, PARENT_SPLIT, PARENT_JOINED, PARENT_BOTH_MASKED]) {
      expect(serializeDerivation(parseDerivation(text))).toBe(text);
    }
  });

  it('computes the intermediate .drv paths and their shared modulo hash', () => {
    const { hasher } = setup();
    const cases: [string, string][] = [
      [INTERMEDIATE_FIRST, '/nix/store/f8g8x4m83da3b2f79iv84q2r3qlc58lr-intermediate.drv'],
      [INTERMEDIATE_SECOND, '/nix/store/kp6i4n4bb3hlniwqjakhlf046qpdc0gl-intermediate.drv'],
    ];
    for (const [text, drvPath] of cases) {
      const drv = parseDerivation(text);
      expect(makeTextPath('intermediate.drv', text, derivationReferences(drv), NIX)).toBe(drvPath);
      expect(hasher.hashModulo(drv, drvPath).toString('hex')).toBe('6df335a6cafec6b08aa38163a4a3d1b8f04bc8dc10de4ad35d677f911f2d3b5a');
    }
    const replace = (p: string): string => hasher.hashModuloOfPath(p).toString('hex');
    expect(serializeDerivation(parseDerivation(INTERMEDIATE_FIRST), { maskOutputs: true, replaceInputDrv: replace })).toBe(
      INTERMEDIATE_FIRST_MODULO,
    );
  });

  it('merges output lists of inputs with equal modulo hashes', () => {
    const { hasher } = setup();
    hasher.hashModulo(parseDerivation(INTERMEDIATE_FIRST), '/nix/store/f8g8x4m83da3b2f79iv84q2r3qlc58lr-intermediate.drv');
    hasher.hashModulo(parseDerivation(INTERMEDIATE_SECOND), '/nix/store/kp6i4n4bb3hlniwqjakhlf046qpdc0gl-intermediate.drv');
    const replace = (p: string): string => hasher.hashModuloOfPath(p).toString('hex');
    for (const text of [PARENT_SPLIT, PARENT_JOINED]) {
      expect(serializeDerivation(parseDerivation(text), { maskOutputs: true, replaceInputDrv: replace })).toBe(PARENT_BOTH_MASKED);
    }
  });

  it('computes the output paths Nix 2.8 computes for the intermediate derivation (env vars present)', () => {
    const { hasher, first } = setup();
    const d = partial({ builder: '/bin/intermediate', outputNames: ['out', 'dev'], inputDrvs: { [first.drvPath]: ['out'] } });
    const f = finalizeDerivation(d, 'intermediate', hasher);
    expect(f.drv.outputs['out']!.path).toBe('/nix/store/9y9d7gv85dkhgy5k13cvss5bmbvc4hjm-intermediate');
    expect(f.drv.outputs['dev']!.path).toBe('/nix/store/d643b76vd5qrddnjsmfz3gk0k47y70wz-intermediate-dev');
  });

  it('parent derivations give one output path for split and joined inputs', () => {
    const { hasher, first, second } = setup();
    const i1 = finalizeDerivation(partial({ builder: '/bin/intermediate', outputNames: ['out', 'dev'], inputDrvs: { [first.drvPath]: ['out'] } }), 'intermediate', hasher);
    const i2 = finalizeDerivation(partial({ builder: '/bin/intermediate', outputNames: ['out', 'dev'], inputDrvs: { [second.drvPath]: ['out'] } }), 'intermediate', hasher);
    expect(i1.drvPath).not.toBe(i2.drvPath);
    expect(i1.hashModulo.equals(i2.hashModulo)).toBe(true);
    expect(i1.drv.outputs['out']!.path).toBe(i2.drv.outputs['out']!.path);
    const split = finalizeDerivation(partial({ builder: '/bin/parent', inputDrvs: { [i1.drvPath]: ['out'], [i2.drvPath]: ['dev'] } }), 'parent', hasher);
    const joined = finalizeDerivation(partial({ builder: '/bin/parent', inputDrvs: { [i2.drvPath]: ['dev', 'out'] } }), 'parent', hasher);
    expect(split.drv.outputs['out']!.path).toBe(joined.drv.outputs['out']!.path);
    expect(split.drvPath).not.toBe(joined.drvPath);
  });
});

// tests/functional/derivation/ia/advanced-attributes-structured-attrs.drv at NixOS/nix 653d7013.
const STRUCTURED =
  String.raw`Derive([("bin","/nix/store/cnpasdljgkhnwaf78cf3qygcp4qbki1c-advanced-attributes-structured-attrs-bin","",""),("dev","/nix/store/ijq6mwpa9jbnpnl33qldfqihrr38kprx-advanced-attributes-structured-attrs-dev","",""),("out","/nix/store/h1vh648d3p088kdimy0r8ngpfx7c3nzw-advanced-attributes-structured-attrs","","")],[("/nix/store/afc3vbjbzql750v2lp8gxgaxsajphzih-foo.drv",["dev","out"]),("/nix/store/vj2i49jm2868j2fmqvxm70vlzmzvgv14-bar.drv",["dev","out"])],["/nix/store/vj2i49jm2868j2fmqvxm70vlzmzvgv14-bar.drv"],"my-system","/bin/bash",["-c","echo hello > $out"],[("__json","{\"__darwinAllowLocalNetworking\":true,\"__impureHostDeps\":[\"/usr/bin/ditto\"],\"__noChroot\":true,\"__sandboxProfile\":\"sandcastle\",\"allowSubstitutes\":false,\"builder\":\"/bin/bash\",\"exportReferencesGraph\":{\"refs1\":[\"/nix/store/p0hax2lzvjpfc2gwkk62xdglz0fcqfzn-foo\"],\"refs2\":[\"/nix/store/vj2i49jm2868j2fmqvxm70vlzmzvgv14-bar.drv\"]},\"impureEnvVars\":[\"UNICORN\"],\"name\":\"advanced-attributes-structured-attrs\",\"outputChecks\":{\"bin\":{\"disallowedReferences\":[\"/nix/store/r5cff30838majxk5mp3ip2diffi8vpaj-bar\",\"dev\"],\"disallowedRequisites\":[\"/nix/store/9b61w26b4avv870dw0ymb6rw4r1hzpws-bar-dev\"]},\"dev\":{\"maxClosureSize\":5909,\"maxSize\":789},\"out\":{\"allowedReferences\":[\"/nix/store/p0hax2lzvjpfc2gwkk62xdglz0fcqfzn-foo\"],\"allowedRequisites\":[\"/nix/store/z0rjzy29v9k5qa4nqpykrbzirj7sd43v-foo-dev\",\"bin\"]}},\"outputs\":[\"out\",\"bin\",\"dev\"],\"preferLocalBuild\":true,\"requiredSystemFeatures\":[\"rainbow\",\"uid-range\"],\"system\":\"my-system\"}"),("bin","/nix/store/cnpasdljgkhnwaf78cf3qygcp4qbki1c-advanced-attributes-structured-attrs-bin"),("dev","/nix/store/ijq6mwpa9jbnpnl33qldfqihrr38kprx-advanced-attributes-structured-attrs-dev"),("out","/nix/store/h1vh648d3p088kdimy0r8ngpfx7c3nzw-advanced-attributes-structured-attrs")])`;

// tests/functional/derivation/ia/advanced-attributes.drv at NixOS/nix 13a0853f (foo/bar with one output).
const ADVANCED =
  String.raw`Derive([("out","/nix/store/jvm2xsx0lm29byzr59yzjw7c14fa9z5f-advanced-attributes","","")],[("/nix/store/4xm4wccqsvagz9gjksn24s7rip2fdy7v-foo.drv",["out"]),("/nix/store/plsq5jbr5nhgqwcgb2qxw7jchc09dnl8-bar.drv",["out"])],["/nix/store/plsq5jbr5nhgqwcgb2qxw7jchc09dnl8-bar.drv"],"my-system","/bin/bash",["-c","echo hello > $out"],[("__darwinAllowLocalNetworking","1"),("__impureHostDeps","/usr/bin/ditto"),("__noChroot","1"),("__sandboxProfile","sandcastle"),("allowSubstitutes",""),("allowedReferences","/nix/store/3c08bzb71z4wiag719ipjxr277653ynp-foo"),("allowedRequisites","/nix/store/3c08bzb71z4wiag719ipjxr277653ynp-foo"),("builder","/bin/bash"),("disallowedReferences","/nix/store/7rhsm8i393hm1wcsmph782awg1hi2f7x-bar"),("disallowedRequisites","/nix/store/7rhsm8i393hm1wcsmph782awg1hi2f7x-bar"),("exportReferencesGraph","refs1 /nix/store/3c08bzb71z4wiag719ipjxr277653ynp-foo refs2 /nix/store/plsq5jbr5nhgqwcgb2qxw7jchc09dnl8-bar.drv"),("impureEnvVars","UNICORN"),("name","advanced-attributes"),("out","/nix/store/jvm2xsx0lm29byzr59yzjw7c14fa9z5f-advanced-attributes"),("preferLocalBuild","1"),("requiredSystemFeatures","rainbow uid-range"),("system","my-system")])`;

describe('upstream end-to-end vectors (tests/functional/derivation)', () => {
  function fooBar(hasher: DerivationHasher, outputs: string[]) {
    const mk = (name: string) => {
      const extra: Record<string, string> = outputs.length > 1 ? { outputs: outputs.join(' ') } : {};
      return finalizeDerivation(
        partial({ system: 'my-system', builder: '/bin/bash', args: ['-c', `echo ${name} > $out`], outputNames: outputs, env: nixEnv(name, 'my-system', '/bin/bash', extra) }),
        name,
        hasher,
      );
    };
    return { foo: mk('foo'), bar: mk('bar') };
  }

  it('reproduces advanced-attributes-structured-attrs (multi-output inputs, __json)', () => {
    const hasher = new DerivationHasher(NIX);
    const { foo, bar } = fooBar(hasher, ['out', 'dev']);
    expect(foo.drvPath).toBe('/nix/store/afc3vbjbzql750v2lp8gxgaxsajphzih-foo.drv');
    expect(foo.drv.outputs['out']!.path).toBe('/nix/store/p0hax2lzvjpfc2gwkk62xdglz0fcqfzn-foo');
    expect(foo.drv.outputs['dev']!.path).toBe('/nix/store/z0rjzy29v9k5qa4nqpykrbzirj7sd43v-foo-dev');
    expect(bar.drvPath).toBe('/nix/store/vj2i49jm2868j2fmqvxm70vlzmzvgv14-bar.drv');
    expect(bar.drv.outputs['out']!.path).toBe('/nix/store/r5cff30838majxk5mp3ip2diffi8vpaj-bar');
    expect(bar.drv.outputs['dev']!.path).toBe('/nix/store/9b61w26b4avv870dw0ymb6rw4r1hzpws-bar-dev');

    const parsed = parseDerivation(STRUCTURED);
    expect(serializeDerivation(parsed)).toBe(STRUCTURED);
    const checked = verifyDerivation(parsed, 'advanced-attributes-structured-attrs', hasher);
    expect(checked.text).toBe(STRUCTURED);
    expect(checked.drvPath).toBe('/nix/store/fzrzkxrp7q5mncnrrhd278ybil0f7w54-advanced-attributes-structured-attrs.drv');
  });

  it('reproduces advanced-attributes (single-output inputs)', () => {
    const hasher = new DerivationHasher(NIX);
    const { foo, bar } = fooBar(hasher, ['out']);
    expect(foo.drvPath).toBe('/nix/store/4xm4wccqsvagz9gjksn24s7rip2fdy7v-foo.drv');
    expect(foo.drv.outputs['out']!.path).toBe('/nix/store/3c08bzb71z4wiag719ipjxr277653ynp-foo');
    expect(bar.drvPath).toBe('/nix/store/plsq5jbr5nhgqwcgb2qxw7jchc09dnl8-bar.drv');
    expect(bar.drv.outputs['out']!.path).toBe('/nix/store/7rhsm8i393hm1wcsmph782awg1hi2f7x-bar');
    const checked = verifyDerivation(parseDerivation(ADVANCED), 'advanced-attributes', hasher);
    expect(checked.text).toBe(ADVANCED);
    expect(checked.drv.outputs['out']!.path).toBe('/nix/store/jvm2xsx0lm29byzr59yzjw7c14fa9z5f-advanced-attributes');
  });

  it('reproduces eval-okay-derivation-legacy (structured attrs, no inputs)', () => {
    const json = JSON.stringify({
      allowedReferences: [],
      allowedRequisites: [],
      builder: '/dontcare',
      disallowedReferences: [],
      disallowedRequisites: [],
      maxClosureSize: 12345,
      maxSize: 1234,
      name: 'eval-okay-derivation-legacy',
      system: 'x86_64-linux',
    });
    const f = finalizeDerivation(partial({ builder: '/dontcare', env: { __json: json } }), 'eval-okay-derivation-legacy', new DerivationHasher(NIX));
    expect(f.drv.outputs['out']!.path).toBe('/nix/store/mzgwvrjjir216ra58mwwizi8wj6y9ddr-eval-okay-derivation-legacy');
  });

  it('resolves unknown inputs through the resolver, memoized', () => {
    const texts = new Map<string, string>();
    const producer = new DerivationHasher(NIX);
    const { foo, bar } = fooBar(producer, ['out', 'dev']);
    texts.set(foo.drvPath, foo.text);
    texts.set(bar.drvPath, bar.text);
    let reads = 0;
    const hasher = new DerivationHasher(NIX, (p) => {
      reads++;
      const t = texts.get(p);
      if (t === undefined) throw new Error(`no ${p}`);
      return parseDerivation(t);
    });
    verifyDerivation(parseDerivation(STRUCTURED), 'advanced-attributes-structured-attrs', hasher);
    verifyDerivation(parseDerivation(STRUCTURED), 'advanced-attributes-structured-attrs', hasher);
    expect(reads).toBe(2);
    expect(hasher.known(foo.drvPath)!.equals(foo.hashModulo)).toBe(true);
  });
});

describe('ATerm escaping and ordering', () => {
  it('escapes exactly the five characters Nix escapes', () => {
    expect(quoteATermString('a"b\\c\nd\re\tf')).toBe('"a\\"b\\\\c\\nd\\re\\tf"');
    expect(quoteATermString('\x00\x01\x7f\u00e9\u{1f600}')).toBe('"\x00\x01\x7f\u00e9\u{1f600}"');
    expect(quoteATermString('')).toBe('""');
  });

  it('round-trips awkward strings through parse and print', () => {
    const nasty = ['', '"', '\\', '\\"', 'a\\nb', '\n\r\t', 'x\x00y', '$out ${x}', 'ü😀', '\\\\\\', '),(', '"]'];
    const drv = partial({ builder: nasty.join('|'), args: nasty, env: Object.fromEntries(nasty.map((s, i) => [`k${i}${s}`, s])) });
    const text = serializeDerivation(drv);
    const back = parseDerivation(text);
    expect(back.builder).toBe(drv.builder);
    expect(back.args).toEqual(nasty);
    expect({ ...back.env }).toEqual(drv.env);
    expect(serializeDerivation(back)).toBe(text);
  });

  it('matches Nix 2.8 on a derivation full of escapes and odd keys', () => {
    // Paths printed by nix-instantiate 2.8 (dummy store, /nix/store) for the same `derivation { … }`.
    const nasty = 'quote " backslash \\ newline \n tab \t cr \r dollar $x ${y} unicode ü 😀 end';
    const d = partial({
      args: [nasty, '', '"', '\\', '\n'],
      env: {
        ...nixEnv('esc', 'x86_64-linux', '/bin/sh'),
        'k"ey': 'quoted key',
        'back\\slash': 'b',
        ü: 'non-ascii',
        '😀': 'astral',
        '': 'empty key',
        'a b': 'space',
        nasty,
        Zkey: 'Z',
        _under: '_',
        zKey: 'z',
      },
    });
    const f = finalizeDerivation(d, 'esc', new DerivationHasher(NIX));
    expect(f.drvPath).toBe('/nix/store/6gqmxvc2s57hj0kk7lk7lryc2sdqgra0-esc.drv');
    expect(f.drv.outputs['out']!.path).toBe('/nix/store/3dzjbj4kssik3rd7c18ddlc92agggnp4-esc');
    expect(serializeDerivation(parseDerivation(f.text))).toBe(f.text);
  });

  it('prints the same bytes and hashes as the reference printer, ASCII or not, with inputs and several outputs', () => {
    // finalizeDerivation prints ASCII derivations into bytes and others with strings;
    // serializeDerivation is the plain printer: all three texts must agree with it.
    const hasher = new DerivationHasher(NIX);
    const dep = finalizeDerivation(partial({ outputNames: ['out', 'lib'], env: nixEnv('dep', 'x86_64-linux', '/bin/sh') }), 'dep', hasher);
    // Short and long strings (the byte printer writes long ones natively), each escaped
    // character alone in a long one, and non-ASCII after a long ASCII run.
    const long = 'a value long enough for the native writer';
    const cases = [
      ['ascii', 'quote " backslash \\ newline \n tab \t cr \r $x'],
      ['unicode', 'ü 😀 \ue000'],
      ['long', long],
      ['long-unicode', `${long} ü`],
      ...['"', '\\', '\n', '\r', '\t'].map((c, i) => [`long-escape${i}`, `${long}${c}`]),
    ] as const;
    for (const [label, value] of cases) {
      const d = partial({
        outputNames: ['out', 'dev', 'doc'],
        inputDrvs: { [dep.drvPath]: ['lib', 'out', 'lib'] },
        args: ['-c', value],
        env: { ...nixEnv(`mix-${label}`, 'x86_64-linux', '/bin/sh'), a: value, zz: 'z', dev: 'overwritten', dependency: dep.drv.outputs['lib']!.path },
      });
      const f = finalizeDerivation(d, `mix-${label}`, hasher);
      expect(serializeDerivation(f.drv)).toBe(f.text);
      const replace = (path: string): string => hasher.hashModuloOfPath(path).toString('hex');
      const maskedText = serializeDerivation({ ...f.drv, env: { ...f.drv.env, out: '', dev: '', doc: '' } }, { maskOutputs: true, replaceInputDrv: replace });
      const masked = sha256(maskedText).toString('hex');
      for (const o of ['out', 'dev', 'doc']) {
        const fp = `output:${o}:sha256:${masked}:${NIX}:${outputPathName(`mix-${label}`, o)}`;
        const expected = `${NIX}/${nix32Encode(compressHash(sha256(fp), 20))}-${outputPathName(`mix-${label}`, o)}`;
        expect(f.drv.outputs[o]!.path).toBe(expected);
        expect(f.drv.env[o]).toBe(expected);
      }
      expect(f.hashModulo.toString('hex')).toBe(sha256(serializeDerivation(f.drv, { replaceInputDrv: replace })).toString('hex'));
      expect(f.drvPath).toBe(makeTextPath(`mix-${label}.drv`, f.text, derivationReferences(f.drv), NIX));
    }
  });

  it('sorts env keys by UTF-8 bytes, not UTF-16 code units', () => {
    const keys = ['😀', 'zKey', 'ü', 'a b', '_under', 'Zkey', '', 'builder', '\ue000'];
    const drv = partial({ env: Object.fromEntries(keys.map((k) => [k, 'v'])) });
    const back = parseDerivation(serializeDerivation(drv));
    expect(Object.keys(back.env)).toEqual(['', 'Zkey', '_under', 'a b', 'builder', 'zKey', 'ü', '\ue000', '😀']);
    const bytes = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...keys].sort(compareStrings)).toEqual(bytes);
    expect(compareStrings('\ue000', '😀')).toBeLessThan(0);
    expect('\ue000' < '😀').toBe(false); // why compareStrings exists
  });

  it('sorts outputs, inputs and sources but keeps args in order, and de-duplicates', () => {
    const a = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a.drv';
    const b = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b.drv';
    const s1 = '/nix/store/cccccccccccccccccccccccccccccccc-s1';
    const s2 = '/nix/store/dddddddddddddddddddddddddddddddd-s2';
    const drv = partial({ outputNames: ['out', 'dev', 'bin'], inputDrvs: { [b]: ['z', 'a', 'z'], [a]: ['out'] }, inputSrcs: [s2, s1, s2], args: ['z', 'a'] });
    expect(serializeDerivation(drv)).toBe(
      `Derive([("bin","","",""),("dev","","",""),("out","","","")],[("${a}",["out"]),("${b}",["a","z"])],["${s1}","${s2}"],"x86_64-linux","/bin/sh",["z","a"],[])`,
    );
  });

  it('masks outputs and their env vars only', () => {
    const drv = partial({ outputNames: ['out', 'dev'], env: { out: '/p/out', dev: '/p/dev', other: 'keep' } });
    drv.outputs['out']!.path = '/p/out';
    expect(serializeDerivation(drv, { maskOutputs: true })).toBe(
      'Derive([("dev","","",""),("out","","","")],[],[],"x86_64-linux","/bin/sh",[],[("dev",""),("other","keep"),("out","")])',
    );
  });

  it('keeps __proto__ and other odd env keys as data', () => {
    const env = JSON.parse('{"__proto__":"x","constructor":"y"}') as Record<string, string>;
    const back = parseDerivation(serializeDerivation(partial({ env })));
    expect(Object.keys(back.env)).toEqual(['__proto__', 'constructor']);
    expect(back.env['__proto__']).toBe('x');
  });
});

describe('parseDerivation errors', () => {
  const good = 'Derive([("out","/nix/store/zr2knphxg8yyy2mkq8akf2hfknjvdiz7-x","","")],[],[],"x86_64-linux","/bin/sh",[],[])';

  it('accepts the good text', () => {
    expect(parseDerivation(good).system).toBe('x86_64-linux');
  });

  const bad: [string, string, RegExp][] = [
    ['empty', '', /expected `Derive\(` at character 0, found the end of the text/],
    ['whitespace', good.replace(',[]', ', []'), /expected `\[` at character \d+/],
    ['trailing newline', good + '\n', /expected the end of the text/],
    ['truncated', good.slice(0, 40), /expected .* at character 40/],
    ['unterminated string', 'Derive([("out', /closing `"`/],
    ['duplicate output', 'Derive([("out","","",""),("out","","","")],[],[],"s","b",[],[])', /not a second `out`/],
    ['duplicate env', 'Derive([("out","","","")],[],[],"s","b",[],[("a","1"),("a","2")])', /not a second `a`/],
    ['dyn drv', 'DrvWithVersion("xp-dyn-drv",[])', /not supported/],
    ['missing field', 'Derive([("out","","")],[],[],"s","b",[],[])', /expected `,` at character 20/],
  ];
  for (const [label, text, message] of bad) {
    it(`rejects ${label}`, () => {
      expect(() => parseDerivation(text)).toThrow(message);
    });
  }
});

describe('finalizeDerivation', () => {
  it('names outputs <name> and <name>-<output>', () => {
    expect(outputPathName('hello', 'out')).toBe('hello');
    expect(outputPathName('hello', 'doc')).toBe('hello-doc');
    const f = finalizeDerivation(partial({ outputNames: ['out', 'doc', 'lib'] }), 'hello-2.10', new DerivationHasher(NIX));
    expect(Object.keys(f.drv.outputs)).toEqual(['out', 'doc', 'lib']);
    expect(f.drv.outputs['doc']!.path).toMatch(/^\/nix\/store\/[0-9a-z]{32}-hello-2\.10-doc$/);
    expect(f.drv.outputs['out']!.path).toMatch(/-hello-2\.10$/);
    for (const o of ['out', 'doc', 'lib']) expect(f.drv.env[o]).toBe(f.drv.outputs[o]!.path);
  });

  it('accepts fixed-output hashes in any notation and writes them as hex', () => {
    const hasher = new DerivationHasher(NIX);
    const forms = [
      'sha256-iUUXyRY8iW7DGirb0zwGgf1fRbLA7wimTJKgP7l/OQ8=',
      SOURCE_HASH,
      SOURCE_HASH.toUpperCase(),
      'sha256:' + SOURCE_HASH,
    ];
    const paths = forms.map((hash) => finalizeDerivation(partial({ builder: '/bin/first', outputs: { out: { path: '', hashAlgo: 'r:sha256', hash } } }), 'source', hasher));
    for (const f of paths) {
      expect(f.drvPath).toBe('/nix/store/q4mzjdlh5px6977h7v5fdsk1p33yg583-source.drv');
      expect(f.drv.outputs['out']!.hash).toBe(SOURCE_HASH);
    }
  });

  it('gives flat and non-sha256 fixed outputs output:out paths, independent of builder and inputs', () => {
    const hasher = new DerivationHasher(NIX);
    const hash = sha256('tarball').toString('hex');
    const a = finalizeDerivation(partial({ builder: '/a', outputs: { out: { path: '', hashAlgo: 'sha256', hash } } }), 'src.tar.gz', hasher);
    const b = finalizeDerivation(partial({ builder: '/b', env: { url: 'x' }, outputs: { out: { path: '', hashAlgo: 'sha256', hash } } }), 'src.tar.gz', hasher);
    expect(a.drv.outputs['out']!.path).toBe(b.drv.outputs['out']!.path);
    expect(a.drvPath).not.toBe(b.drvPath);
    // The modulo of a fixed-output derivation covers only what it produces.
    expect(a.hashModulo.equals(b.hashModulo)).toBe(true);
  });

  it('makes dependants independent of how a fixed output is fetched', () => {
    const hasher = new DerivationHasher(NIX);
    const hash = sha256('tarball').toString('hex');
    const fetchA = finalizeDerivation(partial({ builder: '/fetch', env: { url: 'https://a' }, outputs: { out: { path: '', hashAlgo: 'sha256', hash } } }), 'src', hasher);
    const fetchB = finalizeDerivation(partial({ builder: '/fetch', env: { url: 'https://b' }, outputs: { out: { path: '', hashAlgo: 'sha256', hash } } }), 'src', hasher);
    const useA = finalizeDerivation(partial({ inputDrvs: { [fetchA.drvPath]: ['out'] } }), 'pkg', hasher);
    const useB = finalizeDerivation(partial({ inputDrvs: { [fetchB.drvPath]: ['out'] } }), 'pkg', hasher);
    expect(useA.drv.outputs['out']!.path).toBe(useB.drv.outputs['out']!.path);
    expect(useA.drvPath).not.toBe(useB.drvPath);
  });

  it('references input derivations and sources from the .drv path, not outputs', () => {
    const hasher = new DerivationHasher(NIX);
    const dep = finalizeDerivation(partial(), 'dep', hasher);
    const src = makeTextPath('builder.sh', 'echo', [], NIX);
    const f = finalizeDerivation(partial({ inputDrvs: { [dep.drvPath]: ['out'] }, inputSrcs: [src] }), 'pkg', hasher);
    expect(derivationReferences(f.drv)).toEqual([dep.drvPath, src].sort());
    expect(f.drvPath).toBe(makeTextPath('pkg.drv', f.text, [dep.drvPath, src], NIX));
  });

  it('collects every problem in one error', () => {
    const d = partial({ outputNames: ['out', 'drv', 'b d'], system: 'x"y', inputSrcs: ['/elsewhere/x'], inputDrvs: { '/nix/store/foo.drv': [] } });
    let message = '';
    try {
      finalizeDerivation(d, 'bad name', new DerivationHasher(NIX));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^derivation `bad name` is invalid: /);
    for (const part of [/derivation name: .*contains ` `/, /output name `drv` is reserved/, /output `b d`/, /system .* contains a quote/, /input source: `\/elsewhere\/x` is not a store path in \/nix\/store/, /lists no outputs/]) {
      expect(message).toMatch(part);
    }
  });

  it('refuses derivation names ending in .drv, as Nix does', () => {
    expect(() => finalizeDerivation(partial(), 'x.drv', new DerivationHasher(NIX))).toThrow(/may not end in `\.drv`/);
  });

  it('rejects malformed fixed outputs', () => {
    const h = new DerivationHasher(NIX);
    const fixed = { path: '', hashAlgo: 'sha256', hash: SOURCE_HASH };
    expect(() => finalizeDerivation(partial({ outputs: { out: fixed, dev: { path: '', hashAlgo: '', hash: '' } } }), 'x', h)).toThrow(/exactly one output, `out`/);
    expect(() => finalizeDerivation(partial({ outputs: { out: { ...fixed, hash: '' } } }), 'x', h)).toThrow(/a hash algorithm but no hash/);
    expect(() => finalizeDerivation(partial({ outputs: { out: { ...fixed, hashAlgo: 'r:blake3' } } }), 'x', h)).toThrow(/is not one of md5/);
    expect(() => finalizeDerivation(partial({ outputs: { out: { ...fixed, hashAlgo: 'sha1' } } }), 'x', h)).toThrow(/sha1 hash/);
  });

  it('asks for inputs it cannot hash', () => {
    const missing = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a.drv';
    expect(() => finalizeDerivation(partial({ inputDrvs: { [missing]: ['out'] } }), 'x', new DerivationHasher(NIX))).toThrow(
      /hash modulo of `.*-a\.drv` is unknown and no resolver was given/,
    );
  });

  it('verifyDerivation names a wrong output path or env var', () => {
    const h = new DerivationHasher(NIX);
    const f = finalizeDerivation(partial(), 'x', h);
    const wrongPath = { ...f.drv, outputs: { out: { ...f.drv.outputs['out']!, path: `/nix/store/${'0'.repeat(32)}-x` } } };
    expect(() => verifyDerivation(wrongPath, 'x', h)).toThrow(/has output `out` at .* but its contents give/);
    const wrongEnv = { ...f.drv, env: { ...f.drv.env, out: '' } };
    expect(() => verifyDerivation(wrongEnv, 'x', h)).toThrow(/env var `out` = ``, but it must hold the output path/);
  });

  it('handles a chain deeper than the JS stack through the resolver', () => {
    const producer = new DerivationHasher(NIX);
    const texts = new Map<string, string>();
    let prev: string | undefined;
    for (let i = 0; i < 20000; i++) {
      const f = finalizeDerivation(partial({ env: { i: String(i) }, inputDrvs: prev ? { [prev]: ['out'] } : {} }), `n${i}`, producer);
      texts.set(f.drvPath, f.text);
      prev = f.drvPath;
    }
    const consumer = new DerivationHasher(NIX, (p) => parseDerivation(texts.get(p)!));
    expect(consumer.hashModuloOfPath(prev!).equals(producer.known(prev!)!)).toBe(true);
    expect(consumer.size).toBe(20000);
    expect(storePathHash(prev!)).toHaveLength(32);
  });
});

describe('EnvVars', () => {
  it('keeps each variable once in the order set, and serves again once cleared', () => {
    const env = new EnvVars();
    env.add('name', 'a-1.0');
    env.set('system', 'x86_64-linux');
    env.set('name', 'b-1.0');
    env.add('out', '');
    env.set('doCheck', '1');
    expect(env.names()).toEqual(['name', 'system', 'out', 'doCheck']);
    expect(env.get('name')).toBe('b-1.0');
    env.delete('out');
    env.delete('missing');
    expect(env.names()).toEqual(['name', 'system', 'doCheck']);
    expect(env.has('out')).toBe(false);
    expect(env.get('doCheck')).toBe('1');
    env.clear();
    // The old entries are still in the lists, but not variables any more.
    expect(env.size).toBe(0);
    expect(env.has('name')).toBe(false);
    expect(env.get('system')).toBeUndefined();
    env.set('system', 'i686-linux');
    env.add('x', 'y');
    expect(env.names()).toEqual(['system', 'x']);
    expect(env.get('system')).toBe('i686-linux');
    expect(env.has('doCheck')).toBe(false);
    for (let i = 0; i < 10; i++) env.add(`v${i}`, String(i));
    expect(env.size).toBe(12);
    expect(env.get('v9')).toBe('9');
  });
});
