// The few libc calls the data plane needs, through koffi. Buffers and typed arrays (also views of
// the shared WASM memory) are passed as `void *` and read or written in place.
import koffi = require("koffi");

koffi.alias("ipmasq_ssize_t", "long");

const lib = koffi.load("libc.so.6");

export const open = lib.func("int open(const char *path, int flags)") as (path: string, flags: number) => number;
export const close = lib.func("int close(int fd)") as (fd: number) => number;
export const read = lib.func("ipmasq_ssize_t read(int fd, void *buf, size_t count)") as (fd: number, buf: ArrayBufferView, n: number) => number;
export const write = lib.func("ipmasq_ssize_t write(int fd, void *buf, size_t count)") as (fd: number, buf: ArrayBufferView, n: number) => number;
export const poll = lib.func("int poll(void *fds, unsigned long nfds, int timeout)") as (fds: ArrayBufferView, n: number, timeoutMs: number) => number;
const ioctlPtr = lib.func("int ioctl(int fd, unsigned long request, void *arg)") as (fd: number, req: number, arg: ArrayBufferView) => number;
const ioctlInt = lib.func("ioctl", "int", ["int", "unsigned long", "unsigned long"]) as (fd: number, req: number, arg: number) => number;
export { ioctlPtr, ioctlInt };

export const errno = (): number => koffi.errno() as number;

export const O_RDWR = 0x2;
export const O_NONBLOCK = 0x800;
export const POLLIN = 0x1;
export const EAGAIN = 11;
export const EINTR = 4;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 13: "EACCES", 16: "EBUSY", 19: "ENODEV", 22: "EINVAL", 11: "EAGAIN", 4: "EINTR",
};
export const errnoName = (e: number): string => ERRNO_NAMES[e] ?? `errno ${e}`;
