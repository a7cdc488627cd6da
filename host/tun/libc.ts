// The few libc calls ipmasq needs, through koffi. Buffers and typed arrays (also views of the
// shared WASM memory) are passed as `void *` and read or written in place.
// koffi is loaded on first use, not at import: commands that need no libc call (check, help, a
// non-root user's) never load native code (host/tun/embedded-addon.ts says from where it comes).
import type * as Koffi from "koffi";

export interface Libc {
  open(path: string, flags: number): number;
  close(fd: number): number;
  read(fd: number, buf: ArrayBufferView, n: number): number;
  write(fd: number, buf: ArrayBufferView, n: number): number;
  poll(fds: ArrayBufferView, n: number, timeoutMs: number): number;
  ioctlPtr(fd: number, req: number, arg: ArrayBufferView): number;
  ioctlInt(fd: number, req: number, arg: number): number;
  flock(fd: number, op: number): number;
  socket(domain: number, type: number, protocol: number): number;
  getsockopt(fd: number, level: number, name: number, value: ArrayBufferView, length: ArrayBufferView): number;
  setsockopt(fd: number, level: number, name: number, value: ArrayBufferView, length: number): number;
  connect(fd: number, addr: ArrayBufferView, length: number): number;
  send(fd: number, buf: ArrayBufferView, n: number, flags: number): number;
  mallocTrim(pad: number): number; // 0 where the C library has none (not glibc)
  nameThread(name: string): number; // the calling thread's name in top -H, ps -L, perf (15 bytes at most)
  pinThread(cpu: number): number; // the calling thread runs on that CPU only (-1 and errno if it cannot)
  bpf(cmd: number, attr: ArrayBufferView, size: number): number; // the bpf(2) system call (glibc has no wrapper)
  address(buf: ArrayBufferView): bigint; // where a buffer's bytes are, for a pointer inside a struct
  errno(): number;
}

let bound: Libc | undefined;

export function libc(): Libc {
  return (bound ??= bind());
}

function bind(): Libc {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const koffi = require("koffi") as typeof Koffi;
  koffi.alias("ipmasq_ssize_t", "long");
  const lib = koffi.load("libc.so.6");
  const optional = (decl: string): ((...a: unknown[]) => number) => {
    try {
      return lib.func(decl);
    } catch {
      return () => 0;
    }
  };
  return {
    open: lib.func("int open(const char *path, int flags)"),
    close: lib.func("int close(int fd)"),
    read: lib.func("ipmasq_ssize_t read(int fd, void *buf, size_t count)"),
    write: lib.func("ipmasq_ssize_t write(int fd, void *buf, size_t count)"),
    poll: lib.func("int poll(void *fds, unsigned long nfds, int timeout)"),
    ioctlPtr: lib.func("int ioctl(int fd, unsigned long request, void *arg)"),
    ioctlInt: lib.func("ioctl", "int", ["int", "unsigned long", "unsigned long"]),
    flock: lib.func("int flock(int fd, int operation)"),
    socket: lib.func("int socket(int domain, int type, int protocol)"),
    getsockopt: lib.func("int getsockopt(int fd, int level, int name, void *value, void *length)"),
    setsockopt: lib.func("int setsockopt(int fd, int level, int name, void *value, unsigned int length)"),
    connect: lib.func("int connect(int fd, void *addr, unsigned int length)"),
    send: lib.func("ipmasq_ssize_t send(int fd, void *buf, size_t n, int flags)"),
    mallocTrim: optional("int malloc_trim(size_t pad)"),
    nameThread: (() => {
      const self = optional("unsigned long pthread_self()");
      const setName = optional("int pthread_setname_np(unsigned long thread, const char *name)");
      return (name: string) => setName(self(), name);
    })(),
    pinThread: (() => {
      const setAffinity = lib.func("int sched_setaffinity(int pid, size_t size, void *mask)");
      return (cpu: number) => {
        const mask = Buffer.alloc(128); // cpu_set_t: 1024 CPUs
        mask[cpu >> 3] |= 1 << (cpu & 7);
        return setAffinity(0, mask.length, mask); // pid 0: the calling thread
      };
    })(),
    bpf: (() => {
      const syscall = lib.func("long syscall(long number, ...)");
      const nr = SYS_BPF[process.arch];
      return (cmd: number, attr: ArrayBufferView, size: number) =>
        nr === undefined ? -1 : Number(syscall(nr, "int", cmd, "void *", attr, "unsigned int", size));
    })(),
    address: (buf: ArrayBufferView) => koffi.address(buf) as bigint,
    errno: () => koffi.errno() as number,
  } as Libc;
}

// bpf(2)'s number on the architectures ipmasq is built for
const SYS_BPF: Record<string, number> = { x64: 321, arm64: 280, arm: 386 };

export const O_RDWR = 0x2;
export const O_NONBLOCK = 0x800;
export const O_CLOEXEC = 0x80000;
export const POLLIN = 0x1;
export const EAGAIN = 11;
export const EINTR = 4;
export const EWOULDBLOCK = EAGAIN;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const AF_UNIX = 1;
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0x800;
export const SOCK_CLOEXEC = 0x80000;
export const SOL_SOCKET = 1;
export const SO_BINDTODEVICE = 25;
export const SO_NETNS_COOKIE = 71; // Linux 5.14

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  111: "ECONNREFUSED",
  13: "EACCES",
  16: "EBUSY",
  19: "ENODEV",
  22: "EINVAL",
  11: "EAGAIN",
  4: "EINTR",
  92: "ENOPROTOOPT",
};
export const errnoName = (e: number): string => ERRNO_NAMES[e] ?? `errno ${e}`;
