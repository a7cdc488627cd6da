// Who this gateway is, and that it is the only one. A network namespace is named by its cookie
// (SO_NETNS_COOKIE, Linux 5.14: unique per boot, where inode numbers of deleted namespaces are
// reused at once), and a boot by its boot id. One gateway per namespace and TUN name holds an
// exclusive flock on its lock file, taken before any journal is read: a second start refuses and
// touches nothing.
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readlinkSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import {
  libc,
  AF_INET,
  SOCK_DGRAM,
  SOL_SOCKET,
  SO_NETNS_COOKIE,
  LOCK_EX,
  LOCK_NB,
  EWOULDBLOCK,
  errnoName,
} from "../tun/libc";
import { ensurePrivateDir } from "./private-files";

let cookie: string | undefined;

// "c<cookie>", or "i<inode>" on kernels without SO_NETNS_COOKIE.
export function netnsId(): string {
  if (cookie) return cookie;
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0) {
    const value = Buffer.alloc(8),
      length = Buffer.alloc(4);
    length.writeUInt32LE(8);
    const ok = c.getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, value, length) === 0;
    c.close(fd);
    if (ok) return (cookie = `c${value.readBigUInt64LE()}`);
  }
  return (cookie = `i${readlinkSync("/proc/self/ns/net").replace(/\D/g, "")}`);
}

// The namespace's inode, which the lock file also records: a namespace cannot be found by its
// cookie without entering it, but by its inode (host/state/sweep.ts).
export const netnsInode = (): string => readlinkSync("/proc/self/ns/net").replace(/\D/g, "");

export function bootId(): string {
  return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
}

export const lockFile = (stateDir: string, tun: string): string => join(stateDir, `lock-net${netnsId()}-${tun}`);

export class AlreadyRunning extends Error {}

export class InstanceLock {
  private constructor(
    readonly fd: number,
    readonly file: string,
  ) {}

  // Takes the lock or says who holds it. Retries when the file was removed and made again
  // between our open and our flock (a gateway stopping just then).
  static take(stateDir: string, tun: string): InstanceLock {
    ensurePrivateDir(stateDir);
    const file = lockFile(stateDir, tun);
    for (;;) {
      const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      if (libc().flock(fd, LOCK_EX | LOCK_NB) !== 0) {
        const e = libc().errno();
        let pid = "";
        try {
          pid = readFileSync(fd, "utf8").split("\n")[0].trim();
        } catch {
          /* unreadable */
        }
        closeSync(fd);
        if (e === EWOULDBLOCK)
          throw new AlreadyRunning(
            `another ipmasq${pid ? ` (pid ${pid})` : ""} runs the gateway of this network namespace with TUN ${tun}; nothing was changed (stop it first, or choose another --tun)`,
          );
        throw new Error(`cannot lock ${file}: ${errnoName(e)}`);
      }
      let same = false;
      try {
        same = statSync(file).ino === fstatSync(fd).ino;
      } catch {
        /* removed meanwhile */
      }
      if (!same) {
        closeSync(fd);
        continue;
      }
      const lock = new InstanceLock(fd, file);
      lock.writePid(process.pid);
      return lock;
    }
  }

  // The lock handed down by the gateway that started this process for a graceful restart (the
  // same open file, so the same lock).
  static inherit(fd: number, stateDir: string, tun: string): InstanceLock {
    if (libc().flock(fd, LOCK_EX | LOCK_NB) !== 0)
      throw new Error(`the lock handed over on fd ${fd} is not ours: ${errnoName(libc().errno())}`);
    const lock = new InstanceLock(fd, lockFile(stateDir, tun));
    lock.writePid(process.pid);
    return lock;
  }

  // The lock file holds the pid, then the namespace's inode.
  private writePid(pid: number): void {
    ftruncateSync(this.fd, 0);
    writeSync(this.fd, `${pid}\n${netnsInode()}\n`, 0);
  }

  // At a clean stop: the file goes while we still hold the lock (take() retries on a stale one).
  release(): void {
    try {
      unlinkSync(this.file);
    } catch {
      /* gone */
    }
    closeSync(this.fd);
  }
}
