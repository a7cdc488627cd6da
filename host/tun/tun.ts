// A multi-queue TUN device with virtio_net_hdr offloads: one non-blocking fd per queue.
// The kernel then hands over GSO super-packets (up to 64 KiB) with partial checksums, and takes
// them back the same way (measured before the project began: without offloads the data plane was ~7x slower).
import { existsSync } from "node:fs";
import { libc, O_RDWR, O_NONBLOCK, O_CLOEXEC, errnoName } from "./libc";

const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;
const TUNSETPERSIST = 0x400454cb;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_MULTI_QUEUE = 0x0100;
const IFF_VNET_HDR = 0x4000;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
const TUN_F_TSO_ECN = 0x08;
const TUN_F_USO4 = 0x20;
const TUN_F_USO6 = 0x40;

export interface Tun {
  name: string;
  fds: number[];
  offloads: string[];
}

export class TunError extends Error {}

// The device of a gateway that was just killed goes when the kernel has released it, which can
// be a moment after the process is gone (we hold the instance lock, so no other ipmasq has it).
function gone(path: string, ms: number): boolean {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const end = Date.now() + ms; existsSync(path); Atomics.wait(pause, 0, 0, 50)) if (Date.now() > end) return false;
  return true;
}

// `adopt`: the device was left persistent by the gateway that handed over to us (graceful
// restart); attach to it instead of refusing its name, and make it transient again.
export function openTun(name: string, queues: number, adopt = false): Tun {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name))
    throw new TunError(`bad interface name "${name}" (1-15 letters, digits, _ . -)`);
  if (!existsSync("/dev/net/tun"))
    throw new TunError(
      "/dev/net/tun does not exist: the kernel's tun driver is missing (modprobe tun, or mknod /dev/net/tun c 10 200)",
    );
  if (!adopt && !gone(`/sys/class/net/${name}`, 3000))
    throw new TunError(`interface name ${name} is in use (another ipmasq running here, or choose --tun NAME)`);
  const fds: number[] = [];
  try {
    for (let q = 0; q < queues; q++) {
      // close-on-exec: a child (`ip monitor` lives as long as we do) must not hold a queue, or
      // the device outlives a killed gateway and swallows what the rules steer into it
      const fd = libc().open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {
        const e = libc().errno();
        throw new TunError(
          e === 13 || e === 1
            ? "permission denied opening /dev/net/tun: run as root or with CAP_NET_ADMIN"
            : `cannot open /dev/net/tun: ${errnoName(e)}`,
        );
      }
      fds.push(fd);
      const ifr = Buffer.alloc(40);
      ifr.write(name, 0, "ascii");
      ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, 16);
      if (libc().ioctlPtr(fd, TUNSETIFF, ifr) < 0) {
        const e = libc().errno();
        if (e === 1) throw new TunError(`creating TUN device ${name} needs CAP_NET_ADMIN (EPERM): run as root`);
        if (e === 16 || e === 22)
          throw new TunError(
            `TUN device ${name} cannot be created: the name is in use by a device of another kind (${errnoName(e)})`,
          );
        throw new TunError(`TUNSETIFF ${name}: ${errnoName(e)}`);
      }
    }
    const offloads = setOffloads(fds);
    if (adopt) setPersist(fds[0], false);
    return { name, fds, offloads };
  } catch (err) {
    for (const fd of fds) libc().close(fd);
    throw err;
  }
}

// TSO is required; USO (UDP segmentation) where the kernel has it.
function setOffloads(fds: number[]): string[] {
  const base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  let flags = base | TUN_F_USO4 | TUN_F_USO6;
  for (const fd of fds) {
    if (libc().ioctlInt(fd, TUNSETOFFLOAD, flags) < 0) {
      flags = base;
      if (libc().ioctlInt(fd, TUNSETOFFLOAD, flags) < 0)
        throw new TunError(`TUNSETOFFLOAD: ${errnoName(libc().errno())}`);
    }
  }
  return ["csum", "tso4", "tso6", "tso_ecn", ...(flags & TUN_F_USO4 ? ["uso4", "uso6"] : [])];
}

// A persistent device outlives its fds (and keeps its routes): used to hand it to a new process.
export function setPersist(fd: number, on: boolean): void {
  if (libc().ioctlInt(fd, TUNSETPERSIST, on ? 1 : 0) < 0)
    throw new TunError(`TUNSETPERSIST: ${errnoName(libc().errno())}`);
}

export function closeTun(t: Tun): void {
  for (const fd of t.fds) libc().close(fd);
  t.fds = [];
}
