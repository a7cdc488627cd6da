// What the workers need to know about the network, published by the host whenever it changes
// (host/kernel/follow-network.ts) and read by each worker between batches: which TUN fds to read
// and which interface each stands for, the WAN and its public address, the gateway's own
// addresses and the main routing table.
import { SharedBlob } from "../shm/shared-blob";
import { NETWORK_VIEW_MAX } from "../shm/memory-map";
import type { Route } from "./routes";

export interface IngressView {
  iface: string; // the interface whose packets this TUN device carries; "lo" for the gateway's own
  wan: boolean;
  fds: number[]; // one queue per worker
}

export interface NetworkView {
  publicAddr: number; // 0 while waiting for the WAN
  standby: boolean; // an HA backup: read and drop everything, forward nothing (docs/ha.md)
  wan: string; // "" while there is none
  ingress: IngressView[];
  writeFds: number[]; // where every worker writes back (the base TUN device), one per worker
  addrs: Array<{ iface: string; addr: number }>; // the gateway's own IPv4 addresses
  addrs6: Array<{ iface: string; addr: string; bits: number }>; // its global IPv6 addresses: their prefixes are on-link
  routes: Route[]; // main table, longest prefix first
}

export const sharedNetworkView = (memory: WebAssembly.Memory, base: number): SharedBlob<NetworkView> =>
  new SharedBlob<NetworkView>(memory, base, NETWORK_VIEW_MAX, "network view");
