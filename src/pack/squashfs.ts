/**
 * The `squashfs` format: a SquashFS image that Singularity/Apptainer run directly
 * (`apptainer exec pack.squashfs PROG`), and that squashfuse or `unsquashfs` can open anywhere.
 *
 * The image's tree is the closure and the `-S` links (as in a tarball) plus what Singularity
 * expects of an image: `/.singularity.d/env/90-environment.sh` (the profile's environment),
 * `/.singularity.d/runscript` (the entry point, or a shell), the action scripts in
 * `/.singularity.d/actions/`, `/bin/sh` (a link to a shell of the closure — the action scripts
 * are shell scripts), the mount points `/proc /sys /dev /home /tmp`, and empty `/etc/passwd`,
 * `/etc/group`, `/etc/hosts` and `/etc/resolv.conf` for the runtimes that bind-mount over them
 * (Charliecloud's `ch-run` refuses an image without them).
 *
 * The tree is staged in a temporary directory — store files hard-linked where possible,
 * copied otherwise — and handed to `mksquashfs` with every owner, time and extended attribute
 * fixed, which makes the image byte-reproducible (reference/machine-facts.md D5).
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  constants as fsConstants,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { dyingWithParent } from '../child.js';
import { TsdslError } from '../errors.js';
import { checkDestination, compressOptions, packCompressor, removeTree, temporaryName, trackTemporary, writeAtomically } from './compress.js';
import type { PackFormat, PackOptions } from './formats.js';
import { checkPackInput, closureTree } from './tar.js';
import type { CheckedInput, PackTree, TreeNode } from './tar.js';
import { shellQuote } from '../shell-quote.js';

// Shells that can be /bin/sh, best first; busybox acts as `sh` when called through a link of that name.
const SHELLS = ['sh', 'bash', 'dash', 'busybox'];
const MOUNT_POINTS = ['/proc', '/sys', '/dev', '/home', '/tmp'];
const ETC_FILES = ['/etc/passwd', '/etc/group', '/etc/hosts', '/etc/resolv.conf'];

/**
 * The logical path of a shell in the closure for `/bin/sh`: the profile's first, then any
 * item's `bin/` (items in store path order). Undefined when the closure has none.
 */
export function findShell(checked: CheckedInput): string | undefined {
  const { closure } = checked;
  const dirs = [closure.profile.path, ...closure.items.map((i) => i.path).filter((p) => p !== closure.profile.path)];
  for (const dir of dirs) {
    for (const name of SHELLS) {
      const candidate = `${dir}/bin/${name}`;
      if (closure.resolve(candidate)?.stats?.isFile()) return candidate;
    }
  }
  return undefined;
}

const LOAD_ENVIRONMENT = `for script in /.singularity.d/env/*.sh; do
    if [ -f "$script" ]; then
        . "$script"
    fi
done
`;

/** Singularity's action scripts: what `singularity exec|run|shell|instance start|test` run in the image. */
const ACTIONS: Readonly<Record<string, string>> = {
  exec: `#!/bin/sh
# \`singularity exec IMAGE CMD…\`: load the environment, then run CMD.
${LOAD_ENVIRONMENT}exec "$@"
`,
  run: `#!/bin/sh
# \`singularity run IMAGE ARGS…\`: load the environment, then run the image's runscript.
${LOAD_ENVIRONMENT}if [ -x /.singularity.d/runscript ]; then
    exec /.singularity.d/runscript "$@"
fi
echo "this image has no runscript" >&2
exit 1
`,
  shell: `#!/bin/sh
# \`singularity shell IMAGE\`: load the environment, then start an interactive shell.
${LOAD_ENVIRONMENT}for shell in "\${SINGULARITY_SHELL:-}" "\${APPTAINER_SHELL:-}" /bin/bash /bin/sh; do
    if [ -n "$shell" ] && [ -x "$shell" ]; then
        SHELL=$shell
        export SHELL
        exec "$shell" "$@"
    fi
done
echo "this image has no shell" >&2
exit 1
`,
  start: `#!/bin/sh
# \`singularity instance start IMAGE\`: load the environment, then run the startscript if any.
${LOAD_ENVIRONMENT}if [ -x /.singularity.d/startscript ]; then
    exec /.singularity.d/startscript "$@"
fi
`,
  test: `#!/bin/sh
# \`singularity test IMAGE\`: load the environment, then run the image's test script if any.
${LOAD_ENVIRONMENT}if [ -x /.singularity.d/test ]; then
    exec /.singularity.d/test "$@"
fi
echo "this image has no test script"
`,
};

/**
 * The image's tree: closure, `-S` links and the Singularity layout. Warns (and leaves `/bin/sh`
 * out) when the closure has no shell.
 */
export function squashfsTree(checked: CheckedInput, env: Readonly<Record<string, string>>, onWarning: (message: string) => void): PackTree {
  const tree = closureTree(checked);
  const { closure } = checked;
  const profile = closure.profile.path;
  const shell = findShell(checked);

  // /bin/sh, unless a `-S` link already decides what /bin or /bin/sh is.
  const binLink = checked.symlinks.find((l) => l.link === '/bin');
  let binSh: boolean;
  if (binLink) {
    binSh = closure.resolve(`${binLink.target}/sh`)?.stats?.isFile() === true;
    if (!binSh) {
      onWarning(`/bin is the link \`-S /bin\` to ${binLink.target}, which has no \`sh\`: Singularity's action scripts need /bin/sh; add a shell (bash or dash) to the profile`);
    }
  } else if (tree.get('/bin/sh')) {
    binSh = true;
  } else if (shell) {
    tree.symlink('/bin/sh', shell, "the image's /bin/sh");
    binSh = true;
  } else {
    binSh = false;
    onWarning('the closure has no shell, so the image has no /bin/sh and `singularity exec|shell` cannot work; add bash or dash to the pack');
  }

  tree.directory('/.singularity.d/env');
  tree.directory('/.singularity.d/actions');
  const profileScript = closure.resolve(`${profile}/etc/profile`);
  const environment = profileScript?.stats?.isFile()
    ? `# The environment of the profile ${profile}.\n. ${shellQuote(`${profile}/etc/profile`)}\n`
    : `# The environment of the profile ${profile}.\n${Object.keys(env)
        .sort()
        .map((k) => `${k}=${shellQuote(env[k]!)}\nexport ${k}\n`)
        .join('')}`;
  tree.file('/.singularity.d/env/90-environment.sh', environment, 0o644);

  if (checked.entryPoint !== undefined && !binSh) {
    // Without a shell a script cannot run: let the runscript be the program itself.
    tree.symlink('/.singularity.d/runscript', checked.entryPoint);
  } else {
    const command = checked.entryPoint !== undefined ? shellQuote(checked.entryPoint) : '/bin/sh';
    tree.file('/.singularity.d/runscript', `#!/bin/sh\nexec ${command} "$@"\n`, 0o755);
  }
  for (const [name, script] of Object.entries(ACTIONS)) tree.file(`/.singularity.d/actions/${name}`, script, 0o755);

  for (const dir of MOUNT_POINTS) {
    if (!tree.get(dir)) tree.directory(dir, dir === '/tmp' ? 0o1777 : 0o755, `the mount point ${dir}`);
  }
  // Unless `-S` links decide what /etc is.
  if (tree.get('/etc')?.kind !== 'symlink') {
    for (const f of ETC_FILES) if (!tree.get(f)) tree.file(f, '', 0o644, `the bind-mount point ${f}`);
  }
  return tree;
}

// ---------------------------------------------------------------------------------------------
// Staging

// Permissions a hard link can keep as they are; anything else is copied and masked, as in a tarball.
const PLAIN_MODE = 0o755;

interface StageState {
  /** dev:ino of store files already linked into the stage. */
  readonly linked: Set<string>;
}

/**
 * Writes `tree` into the empty directory `dir`. Store files are hard-linked (no data copied)
 * unless that fails (another file system, protected_hardlinks), the file has group/other
 * write or set-id bits (a link would keep them), or the same inode was already linked: each
 * staged file is then its own inode, so mksquashfs never records hard links that depend on how
 * this machine's store happens to be deduplicated.
 */
export function stageTree(tree: PackTree, dir: string): void {
  const state: StageState = { linked: new Set() };
  chmodSync(dir, 0o755);
  for (const [name, node] of tree.root.children) stageNode(node, Buffer.from(`${dir}/${name}`), state);
}

function stageNode(node: TreeNode, path: Buffer, state: StageState): void {
  switch (node.kind) {
    case 'directory':
      mkdirSync(path, 0o700);
      for (const [name, child] of node.children) stageNode(child, Buffer.concat([path, Buffer.from(`/${name}`)]), state);
      chmodSync(path, node.mode & 0o7777);
      return;
    case 'symlink':
      symlinkSync(node.target, path);
      return;
    case 'file':
      writeFileSync(path, node.content, { mode: 0o600 });
      chmodSync(path, node.mode & 0o7777);
      return;
    case 'copy':
      stagePhysical(Buffer.from(node.physical), path, state);
      return;
  }
}

function stagePhysical(src: Buffer, dst: Buffer, state: StageState): void {
  const st = lstatSync(src);
  if (st.isDirectory()) {
    mkdirSync(dst, 0o700);
    for (const name of readdirSync(src, { encoding: 'buffer' })) {
      stagePhysical(Buffer.concat([src, SLASH, name]), Buffer.concat([dst, SLASH, name]), state);
    }
    // Set last: a read-only store directory must stay writable until its entries are in.
    chmodSync(dst, st.mode & PLAIN_MODE);
  } else if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src, { encoding: 'buffer' }), dst);
  } else if (st.isFile()) {
    const key = `${st.dev}:${st.ino}`;
    if ((st.mode & 0o7777 & ~PLAIN_MODE) === 0 && !state.linked.has(key)) {
      try {
        linkSync(src, dst);
        state.linked.add(key);
        return;
      } catch {
        // Fall back to a copy.
      }
    }
    copyFileSync(src, dst, fsConstants.COPYFILE_FICLONE);
    chmodSync(dst, st.mode & PLAIN_MODE);
  } else {
    throw new TsdslError(`cannot pack \`${src.toString()}\`: only files, directories and symbolic links can go in an image`);
  }
}

const SLASH = Buffer.from('/');

// ---------------------------------------------------------------------------------------------
// mksquashfs

/** The fixed options that make mksquashfs's output depend on the tree alone. */
export const MKSQUASHFS_OPTIONS = ['-all-root', '-noappend', '-mkfs-time', '1', '-all-time', '1', '-no-xattrs', '-quiet', '-no-progress'] as const;

/**
 * Runs mksquashfs. With `onProgress`, its progress bar (`[==…] DONE/TOTAL PCT%`, the only
 * thing `-quiet` lets through) is read instead of switched off; it does not change the image.
 */
function runMksquashfs(stage: string, out: string, extra: readonly string[], onProgress?: (done: number, total: number) => void): Promise<void> {
  const fixed = onProgress ? MKSQUASHFS_OPTIONS.filter((o) => o !== '-no-progress') : MKSQUASHFS_OPTIONS;
  const args = [stage, out, ...fixed, ...extra];
  return new Promise((resolve, reject) => {
    // SOURCE_DATE_EPOCH (common in CI) makes mksquashfs refuse -mkfs-time/-all-time, which
    // set the same thing: the image's times are fixed here already.
    const env = { ...process.env };
    delete env['SOURCE_DATE_EPOCH'];
    // Killed with tsdsl (kill -9 included), as the compressors are.
    const [program, argv] = dyingWithParent('mksquashfs', args);
    const child = spawn(program, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    let bar = '';
    const collect = (s: Buffer): void => {
      if (output.length < 8000) output += s.toString();
    };
    child.stdout.on('data', (s: Buffer) => {
      if (!onProgress) return collect(s);
      bar = (bar + s.toString('latin1')).slice(-200);
      const all = [...bar.matchAll(/\] (\d+)\/(\d+) +\d+%/g)];
      const last = all[all.length - 1];
      if (last) onProgress(Number(last[1]), Number(last[2]));
      const text = s.toString().replace(/\r?\[[=|/\\ -]*\] \d+\/\d+ +\d+%/g, '').trim();
      if (text) collect(Buffer.from(text));
    });
    child.stderr.on('data', collect);
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new TsdslError('cannot run `mksquashfs`: it is not installed or not on PATH; install squashfs-tools (Debian: `apt-get install squashfs-tools`)', { cause: e })
          : e,
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      // A full disk is said as the pack API says it of every format (it looks at the code).
      else if (/No space left on device/.test(output)) reject(Object.assign(new Error(`mksquashfs: ${output.trim()}`), { code: 'ENOSPC' }));
      else if (/Disk quota exceeded/.test(output)) reject(Object.assign(new Error(`mksquashfs: ${output.trim()}`), { code: 'EDQUOT' }));
      else reject(new TsdslError(`\`mksquashfs ${args.join(' ')}\` failed (${signal ? `signal ${signal}` : `exit code ${code}`}): ${output.trim()}`));
    });
  });
}

/** `squashfs`: a Singularity/Apptainer image. The compressor picks mksquashfs's `-comp`. */
export const squashfs: PackFormat = {
  name: 'squashfs',
  description: 'a SquashFS image for Singularity/Apptainer (`apptainer exec pack.squashfs PROG`)',
  defaultCompression: 'gzip',
  extension(options = {}) {
    // The compressor is checked here, before anything is built (the pack API asks this first).
    packCompressor(this, options);
    return '.squashfs';
  },
  async write(input, options: PackOptions, destPath) {
    const compression = packCompressor(this, options).squashfsOptions(compressOptions(options));
    const checked = checkPackInput(input);
    checkDestination(destPath);
    const tree = squashfsTree(checked, input.env, options.onWarning ?? (() => {}));
    // Staging hard-links store files only when the stage is on the store's file system:
    // callers should pass a `workDir` there (e.g. under the tsdsl root); beside the
    // destination is the fallback, where files may have to be copied.
    const stage = temporaryName(options.workDir ? `${options.workDir}/stage` : destPath, 'stage');
    const release = trackTemporary(stage);
    try {
      mkdirSync(dirname(stage), { recursive: true });
      mkdirSync(stage);
      stageTree(tree, stage);
      await writeAtomically(destPath, (tmp) => runMksquashfs(stage, tmp, compression, input.onProgress));
    } finally {
      removeTree(stage);
      release();
    }
  },
};
