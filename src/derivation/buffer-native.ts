// Buffer's native string writer and reader, called directly. `buf.write(s, at, 'utf8')` and
// `buf.toString('latin1', from, to)` are JavaScript wrappers that check their arguments and
// pick the encoding's method on every call; lowering writes a dozen strings a derivation and
// reads two, and with the wrappers it was 6–8% slower (alternating runs on the 20,000-package
// collection). The wrappers are also inlined wherever they are called, so TurboFan had more to
// compile while lowering's first thousand derivations ran unoptimized.
//
// `utf8Write` and `latin1Slice` are the methods those wrappers end in: on Buffer.prototype in
// every Node release (undocumented, but `lib/internal/buffer.js` installs them for its own use).
// Should one be missing, the documented call stands in for it.

type Utf8Write = (this: Buffer, s: string, offset: number, length: number) => number;
type Latin1Slice = (this: Buffer, start: number, end: number) => string;

/** The two methods: `proto`'s own where it has them, else the documented calls. */
export function nativeBufferMethods(proto: { utf8Write?: unknown; latin1Slice?: unknown }): { utf8Write: Utf8Write; latin1Slice: Latin1Slice } {
  return {
    utf8Write:
      typeof proto.utf8Write === 'function'
        ? (proto.utf8Write as Utf8Write)
        : function (this: Buffer, s: string, offset: number, length: number): number {
            return this.write(s, offset, length, 'utf8');
          },
    latin1Slice:
      typeof proto.latin1Slice === 'function'
        ? (proto.latin1Slice as Latin1Slice)
        : function (this: Buffer, start: number, end: number): string {
            return this.toString('latin1', start, end);
          },
  };
}

const methods = nativeBufferMethods(Buffer.prototype as object);

/** `buf.write(s, offset, length, 'utf8')`: the bytes written (fewer than asked when `s` does not fit). */
export const utf8Write: Utf8Write = methods.utf8Write;

/** `buf.toString('latin1', start, end)`. */
export const latin1Slice: Latin1Slice = methods.latin1Slice;
