// Binding a Node UDP socket to one interface: the LAN-only services (NAT-PMP/PCP, SSDP) hear
// only what came in on their LAN devices.
import type { Socket } from "node:dgram";
import { libc, SOL_SOCKET, SO_BINDTODEVICE, errnoName } from "../tun/libc";

// SO_BINDTODEVICE on a bound Node socket (its fd, through libc): only packets that came in on
// `iface` are delivered to it.
export function bindToDevice(sock: Socket, iface: string): void {
  const fd = socketFd(sock);
  if (fd === undefined || fd < 0) throw new Error("cannot reach the socket's descriptor");
  const name = Buffer.from(`${iface}\0`);
  if (libc().setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.length) !== 0) {
    throw new Error(`cannot bind the socket to ${iface}: ${errnoName(libc().errno())}`);
  }
}

// Node gives no public way to a UDP socket's descriptor; its handle sits in the socket's state
// (the `_handle` getter that also reaches it is deprecated, and warns once per process).
function socketFd(sock: Socket): number | undefined {
  const state = Object.getOwnPropertySymbols(sock).find((s) => s.description === "state symbol");
  const handle = state ? (sock as unknown as Record<symbol, { handle?: { fd?: number } }>)[state]?.handle : undefined;
  return handle?.fd;
}
