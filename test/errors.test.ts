/** How failures of the machine (full or read-only disks, a damaged database) are said. */
import { describe, expect, it } from 'vitest';
import { systemFailure } from '../src/errors.js';

const failure = (fields: Record<string, string>) => Object.assign(new Error(fields['message'] ?? 'failed'), fields);

describe('systemFailure', () => {
  it('names what was being written: a copy\'s destination, not its source', () => {
    const e = failure({ code: 'ENOSPC', path: '/cache/downloads/abc', dest: '/root/store/.tmp/x' });
    expect(systemFailure(e)!.message).toMatch(/^the file system is full \(writing \/root\/store\/\.tmp\/x\): no space is left\. .*tsdsl gc/);
    expect(systemFailure(failure({ code: 'ENOSPC', path: '/a/b' }))!.message).toMatch(/\(writing \/a\/b\)/);
    // gc itself failed: running gc is not the way out.
    const gc = systemFailure(failure({ code: 'SQLITE_FULL' }), '/r/var/db.sqlite', 'gc')!.message;
    expect(gc).toMatch(/^the file system is full \(writing the store database \/r\/var\/db\.sqlite\): no space is left\. gc needs a little room to start: delete or move some files outside the store, then run `tsdsl gc` again$/);
  });

  it('a read-only file system: which setting points where', () => {
    const m = systemFailure(failure({ code: 'EROFS', path: '/ro/downloads/.tmp-1' }))!.message;
    expect(m).toMatch(/^the file system is read-only \(writing \/ro\/downloads\/\.tmp-1\); .*TSDSL_ROOT for the store, TSDSL_DOWNLOAD_CACHE for downloads/);
  });

  it('a damaged database: restore it, or move the store away; no recovery recipe that breaks closures', () => {
    const m = systemFailure(failure({ code: 'SQLITE_CORRUPT', message: 'database disk image is malformed' }), '/home/u/.local/share/tsdsl/var/db.sqlite')!.message;
    expect(m).toMatch(/^the store database \/home\/u\/\.local\/share\/tsdsl\/var\/db\.sqlite is damaged \(database disk image is malformed\)\. Restore it from a backup .*move the store \(\/home\/u\/\.local\/share\/tsdsl\) away/);
    expect(m).not.toMatch(/\.recover/);
  });

  it('leaves other errors alone', () => {
    expect(systemFailure(failure({ code: 'ENOENT', path: '/x' }))).toBeUndefined();
    expect(systemFailure(new Error('plain'))).toBeUndefined();
  });
});
