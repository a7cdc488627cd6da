// Files ipmasq writes and later reads or runs (the wiring journal, the handover snapshot, the
// instance lock, the extracted native addon) live only in a directory that is ours: owned by the
// user we run as, not writable by group or others, and not a symbolic link. Files in it are
// opened without following links and checked the same way, so that no other local user can
// prepare what root later reads or loads.
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  type Stats,
  writeSync,
  fsyncSync,
  existsSync,
} from "node:fs";
import { dirname, join } from "node:path";

export const defaultStateDir = (): string => (existsSync("/run") ? join("/run", "ipmasq") : join("/tmp", "ipmasq"));

const euid = (): number => process.geteuid?.() ?? 0;

// What is wrong with a file or directory's owner and mode, or undefined.
function unsafe(st: Stats): string | undefined {
  if (st.uid !== euid()) return `it is owned by uid ${st.uid}, not by uid ${euid()} that ipmasq runs as`;
  if ((st.mode & 0o022) !== 0)
    return `it is writable by ${st.mode & 0o002 ? "others" : "its group"} (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

export class UnsafePathError extends Error {}

// Makes `dir` (mode 0700) if it is missing; refuses one that another user could change.
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UnsafePathError(
      `cannot create ${dir}: ${code === "EACCES" || code === "EPERM" ? "permission denied (run as root, or choose --state-dir)" : code}`,
    );
  }
  const st = lstatSync(dir);
  const why = st.isSymbolicLink() ? "it is a symbolic link" : !st.isDirectory() ? "it is not a directory" : unsafe(st);
  if (why)
    throw new UnsafePathError(
      `refusing to use ${dir}: ${why}; ipmasq keeps its state and native code only in a directory of its own (remove it, or choose --state-dir)`,
    );
  // whoever may write into the parent could rename ours away and put theirs in its place: the
  // parent must be ours or root's, and sticky if others may write into it
  const parent = lstatSync(dirname(dir));
  if (parent.uid !== euid() && parent.uid !== 0)
    throw new UnsafePathError(`refusing to use ${dir}: its parent ${dirname(dir)} is owned by uid ${parent.uid}`);
  if ((parent.mode & 0o022) !== 0 && (parent.mode & 0o1000) === 0)
    throw new UnsafePathError(
      `refusing to use ${dir}: its parent ${dirname(dir)} is writable by others and not sticky`,
    );
}

// Reads a file of ours: no link is followed, and it must be a regular file that only we can write.
// `first`: a check of the open file's stat before those (what is wrong, or undefined).
export function readPrivateFile(file: string, first?: (st: Stats) => string | undefined): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    const said = first?.(st);
    if (said) throw new UnsafePathError(said);
    const why = !st.isFile() ? "it is not a regular file" : unsafe(st);
    if (why) throw new UnsafePathError(`refusing to read ${file}: ${why}`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Writes a file of ours in one step: a new file (exclusive create, so nothing planted is
// followed or reused) renamed into place.
export function writePrivateFile(file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

// A secret in a file of ours that nobody else may read (mode 0600 or stricter), trimmed; at
// least `min` characters. `option` names it in what goes wrong.
export function readSecret(file: string, option: string, min: number): Buffer {
  const readable = (st: Stats): string | undefined =>
    (st.mode & 0o077) !== 0 ? `${option} ${file}: others may read it (chmod 600 it)` : undefined;
  const secret = Buffer.from(readPrivateFile(file, readable).toString().trim());
  if (secret.length < min) throw new UnsafePathError(`${option} ${file}: it needs at least ${min} characters`);
  return secret;
}
