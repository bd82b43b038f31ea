/**
 * Relocatable packs (`tsdsl pack -R`, `-RR`), as Guix's `guix pack -R`: a tarball that runs
 * from whatever directory it is unpacked in, without root and without tsdsl on the target.
 *
 * Each `-S` link to the profile's `bin` or `sbin` (`-S /bin=bin`) becomes a real directory in
 * the pack, holding one POSIX shell wrapper per program of that directory (other entries become
 * relative links into the store); other `-S` links stay links. A wrapper finds the pack's root from its own
 * location and hands the program's store path to the pack's runner, `/.tsdsl-relocatable/run`,
 * which re-executes it with the pack's store visible at the store directory:
 *
 * - `userns`: `unshare -mr`, a tmpfs on the pack's empty `/.tsdsl-relocatable/root` mirroring
 *   the host's top-level directories by bind mounts (so /proc, /dev, /sys, $HOME, /tmp and the
 *   working directory are all there, as a user expects), the pack's store directory bound over
 *   the store directory's top component, then `chroot` and `cd` back to the working directory.
 *   Needs only `/bin/sh`, `unshare`, `mount`, `mkdir` and `chroot` on the target.
 * - `proot` (`-RR` only): the pack carries Debian's PRoot and its libraries
 *   (packages/relocation.ts) and starts it through the pack's own glibc dynamic loader
 *   (`ld-linux-x86-64.so.2 --library-path …`), so nothing beyond the pack is needed.
 *
 * `TSDSL_RELOCATABLE_ENGINE=userns|proot` picks the engine; by default (`auto`) user namespaces
 * are tried and, in a `-RR` pack, PRoot is used when they are unavailable, with a message that
 * says why (unshare missing, `user.max_user_namespaces` 0, `kernel.unprivileged_userns_clone`
 * 0, AppArmor's `kernel.apparmor_restrict_unprivileged_userns` 1). When the program's store
 * path already exists (run inside the pack's own chroot, or on a machine with the same store
 * items) the wrapper executes it directly. Exit codes pass through.
 */
import { readdirSync } from 'node:fs';
import { posix } from 'node:path';
import { TsdslError } from '../errors.js';
import { PackTree, closureTree, type CheckedInput } from './tar.js';

/** Where PRoot and the libraries it needs are in the pack (logical store paths). */
export interface ProotSupport {
  /** The PRoot executable, e.g. `/tsdsl/store/…-proot-5.1.0/usr/bin/proot`. */
  readonly proot: string;
  /** The glibc dynamic loader that starts it. */
  readonly loader: string;
  /** Directories for the loader's `--library-path` (libtalloc, libc). */
  readonly libraryPath: readonly string[];
}

/** The directory of the pack that holds the runner and the user-namespace engine's mount point. */
export const RELOCATABLE_DIR = '/.tsdsl-relocatable';

/** The engines a relocatable pack's runner knows; `auto` is the default. */
export const RELOCATABLE_ENGINES = ['auto', 'userns', 'proot'] as const;

/** The environment variable that picks the engine at run time. */
export const ENGINE_VARIABLE = 'TSDSL_RELOCATABLE_ENGINE';

/** The directories of the profile whose programs get wrappers (as Guix wraps bin and sbin). */
const PROGRAM_DIRS = ['bin', 'sbin'];

/** Single-quotes `s` for sh. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A wrapper: finds the root from its own location `link` (absolute in the pack) and runs `program`. */
export function wrapperScript(program: string, wrapperDir: string): string {
  const up = wrapperDir.split('/').filter((c) => c !== '').map(() => '..').join('/');
  return `#!/bin/sh
# Made by tsdsl pack -R: runs ${program}
# from the pack this file is in, wherever the pack was unpacked (see ${RELOCATABLE_DIR}/run).
prog=${q(program)}
if [ -x "$prog" ]; then exec "$prog" "$@"; fi
me=$0
while [ -L "$me" ]; do
  link=$(readlink "$me") || break
  case $link in /*) me=$link ;; *) me=\${me%/*}/$link ;; esac
done
case $me in */*) dir=\${me%/*} ;; *) dir=. ;; esac
root=$(CDPATH= cd -P -- "$dir/${up}" >/dev/null && pwd -P) || exit 127
exec "$root${RELOCATABLE_DIR}/run" "$root" "$prog" "$@"
`;
}

/** The runner: `run ROOT PROGRAM [ARG]...`, shared by the wrappers of one pack. */
export function runnerScript(storeDir: string, proot: ProotSupport | undefined): string {
  const top = `/${storeDir.split('/').filter((c) => c !== '')[0]!}`;
  const prootLines = proot
    ? `proot=${q(proot.proot)}
loader=${q(proot.loader)}
libs=${q(proot.libraryPath.join(':'))}`
    : `proot=`;
  return `#!/bin/sh
# Made by tsdsl pack -R${proot ? 'R' : ''}. Usage: run ROOT PROGRAM [ARG]...
# Runs PROGRAM, a path under ${storeDir}, with ROOT${top} (this pack's) seen at ${top}:
#  - userns: unshare -mr; a tmpfs on ROOT${RELOCATABLE_DIR}/root mirrors the host's top-level
#    directories (bind mounts) with ROOT${top} bound at ${top}; then chroot and cd back to the
#    working directory. Needs /bin/sh, unshare, mount, mkdir and chroot.
#  - proot (packs made with -RR): the pack's PRoot, started by the pack's glibc loader.
# ${ENGINE_VARIABLE}=userns|proot picks one; by default user namespaces are tried first.
root=$1
shift
top=${q(top)}
${prootLines}
engine=\${${ENGINE_VARIABLE}:-auto}

why_no_userns() {
  if ! command -v unshare >/dev/null 2>&1; then
    echo "the unshare command (util-linux) is not installed"
    return
  fi
  v=
  { read -r v </proc/sys/user/max_user_namespaces; } 2>/dev/null
  if [ "$v" = 0 ]; then
    echo "user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)"
    return
  fi
  v=
  { read -r v </proc/sys/kernel/unprivileged_userns_clone; } 2>/dev/null
  if [ "$v" = 0 ]; then
    echo "unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone is 0)"
    return
  fi
  v=
  { read -r v </proc/sys/kernel/apparmor_restrict_unprivileged_userns; } 2>/dev/null
  if [ "$v" = 1 ]; then
    echo "AppArmor forbids unprivileged user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns is 1)"
    return
  fi
  echo "unshare -mr fails: $1"
}

run_userns() {
  # No --fork: every step execs the next, so the program keeps this process id, gets the
  # signals sent to it and exits with its own status. The mounts are made as the namespace's
  # root; where unshare has --map-user and --root (util-linux 2.38), a nested user namespace
  # gives the program your uid back (as root, or with an older unshare, it runs as uid 0).
  exec unshare -mr /bin/sh -c '
    root=$1 cwd=$2 top=$3 uid=$4 gid=$5 path=$PATH
    shift 5
    PATH=$PATH:/usr/sbin:/sbin
    new=$root${RELOCATABLE_DIR}/root
    mount -t tmpfs -o mode=0755 tsdsl-pack "$new" || exit 127
    for e in /* /.[!.]* /..?*; do
      [ -d "$e" ] && [ "$e" != "$top" ] || continue
      mkdir "$new$e" && mount --rbind "$e" "$new$e" 2>/dev/null
    done
    mkdir -p "$new$top" && mount --rbind "$root$top" "$new$top" || exit 127
    enter="PATH=\\$1; cd \\"\\$2\\" 2>/dev/null || cd /; shift 2; exec \\"\\$@\\""
    if [ "$uid" != 0 ] && unshare --help 2>&1 | grep -q -- --map-user; then
      exec unshare --user --map-user="$uid" --map-group="$gid" --root="$new" /bin/sh -c "$enter" sh "$path" "$cwd" "$@"
    fi
    exec chroot "$new" /bin/sh -c "$enter" sh "$path" "$cwd" "$@"
  ' sh "$root" "$PWD" "$top" "$(id -u)" "$(id -g)" "$@"
}

run_proot() {
  lp=
  ifs=$IFS
  IFS=:
  for d in $libs; do lp=$lp\${lp:+:}$root$d; done
  IFS=$ifs
  exec "$root$loader" --library-path "$lp" "$root$proot" -b "$root$top:$top" -w "$PWD" "$@"
}

case $engine in
  userns) run_userns "$@" ;;
  proot)
    if [ -z "$proot" ]; then
      echo "\${1##*/} (relocatable pack): ${ENGINE_VARIABLE}=proot, but this pack carries no PRoot; make it with tsdsl pack -RR" >&2
      exit 127
    fi
    run_proot "$@" ;;
  auto)
    if err=$(unshare -mr /bin/sh -c : 2>&1); then run_userns "$@"; fi
    why=$(why_no_userns "$err")
    if [ -z "$proot" ]; then
      echo "\${1##*/} (relocatable pack): cannot run $1: $why. Enable user namespaces, or make the pack with tsdsl pack -RR to carry PRoot as a fallback." >&2
      exit 127
    fi
    echo "\${1##*/} (relocatable pack): $why; running $1 under PRoot instead (slower, and Debian's PRoot 5.1.0 fails on programs that use statx, such as ls). ${ENGINE_VARIABLE}=proot skips this message." >&2
    run_proot "$@" ;;
  *)
    echo "\${1##*/} (relocatable pack): ${ENGINE_VARIABLE}=$engine is not an engine; use userns or proot (or leave it unset)" >&2
    exit 127 ;;
esac
`;
}

/**
 * The tree of a relocatable pack: the closure, `-S` links to directories turned into
 * directories of wrappers, the runner and its mount point. `proot` (for `-RR`) must point at
 * files of the closure.
 */
export function relocatableTree(checked: CheckedInput, proot: ProotSupport | undefined): PackTree {
  const { closure } = checked;
  if (proot) {
    for (const p of [proot.proot, proot.loader]) {
      if (!closure.resolve(p)?.stats?.isFile()) throw new TsdslError(`cannot pack -RR: \`${p}\` is not a file of the closure`);
    }
  }
  const tree = closureTree(checked, { links: false });
  let wrapped = 0;
  const programDirs = PROGRAM_DIRS.map((d) => `${closure.profile.path}/${d}`);
  for (const { link, target } of checked.symlinks) {
    if (link === RELOCATABLE_DIR || link.startsWith(`${RELOCATABLE_DIR}/`) || RELOCATABLE_DIR.startsWith(`${link}/`)) {
      throw new TsdslError(`-S ${link}=${posix.relative(closure.profile.path, target) || '.'}: \`${RELOCATABLE_DIR}\` holds the runner of a relocatable pack; choose a link outside it, such as -S /bin=bin`);
    }
    const dir = programDirs.includes(target) ? closure.resolve(target) : undefined;
    if (!dir?.stats?.isDirectory() || dir.physical === undefined) {
      tree.symlink(link, posix.relative(posix.dirname(link), target), `the link \`-S ${link}\``);
      continue;
    }
    tree.directory(link, 0o755, `the wrappers of \`-S ${link}\``);
    for (const name of readdirSync(dir.physical).sort()) {
      const logical = `${target}/${name}`;
      const entry = closure.resolve(logical);
      const origin = `the wrapper \`${link}/${name}\``;
      if (entry?.stats?.isFile() && (entry.stats.mode & 0o111) !== 0) {
        tree.file(`${link}/${name}`, wrapperScript(logical, link), 0o755, origin);
        wrapped++;
      } else {
        tree.symlink(`${link}/${name}`, posix.relative(link, entry?.logical ?? logical), origin);
      }
    }
  }
  if (wrapped === 0) {
    throw new TsdslError(
      '-R wraps the programs of the profile\'s bin and sbin directories that -S links point to, and there are none: add a link such as -S /bin=bin',
    );
  }
  tree.file(`${RELOCATABLE_DIR}/run`, runnerScript(closure.storeDir, proot), 0o755, 'the relocatable runner');
  tree.directory(`${RELOCATABLE_DIR}/root`, 0o755, 'the mount point of the relocatable runner');
  return tree;
}
