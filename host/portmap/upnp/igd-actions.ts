// The IGD control actions (WANIPConnection:1 and :2, WANCommonInterfaceConfig:1), as a table:
// each action's arguments (its SCPD entry, host/portmap/upnp/description.ts) and what it does, over
// the gateway's one mapping table, the pinholes NAT-PMP and PCP use too.
//
// Security (UPnP IGD:2 security considerations, miniupnpd's defaults): a client maps only to its
// own address; the permission lines decide the ports (below 1024 refused unless allowed);
// leases are capped at 7 days (an infinite lease becomes 7 days, IGD:2); a host holds at most
// MAX_PER_HOST mappings; only the owner may delete a mapping.
import { SoapError, fault, UPNP, escapeXml } from "./soap";
import { allowed } from "./permissions";
import type { UpnpRule } from "../../policy/upnp-rules";
import { formatAddr, parseAddr } from "../../net/addr";
import * as L from "../../../assembly/layout";

export const MAX_LEASE = 7 * 24 * 3600;
export const MAX_PER_HOST = 64;

export interface UpnpMapping {
  proto: number;
  port: number;
  lanAddr: number;
  lanPort: number;
  expiresIn: number;
  description: string;
}

// What the actions work on (host/portmap/upnp/upnp-server.ts wires it to the gateway).
export interface IgdBackend {
  mappings(): UpnpMapping[]; // every pinhole, whichever protocol made it
  // Maps public `port` (exactly, or any free one if !exact) to lanAddr:lanPort; the port, or -1.
  map(
    proto: number,
    lanAddr: number,
    lanPort: number,
    port: number,
    exact: boolean,
    lease: number,
    description: string,
  ): number;
  unmap(proto: number, port: number): void;
  publicAddr(): number;
  uptime(): number;
  counters(): { bytesSent: number; bytesReceived: number; packetsSent: number; packetsReceived: number };
  rules(): UpnpRule[];
}

type Args = Map<string, string>;
type Out = Array<[string, string | number]>;
export interface Action {
  in: string[];
  out: string[];
  v2?: boolean;
  run(b: IgdBackend, a: Args, client: number): Out;
}

const PROTOS: Record<string, number> = { TCP: L.PROTO_TCP, UDP: L.PROTO_UDP };
const protoName = (p: number): string => (p === L.PROTO_TCP ? "TCP" : "UDP");

function arg(a: Args, name: string): string {
  const v = a.get(name);
  if (v === undefined) throw fault(UPNP.INVALID_ARGS);
  return v;
}
function num(a: Args, name: string, min: number, max: number): number {
  const v = arg(a, name);
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max) throw fault(UPNP.INVALID_ARGS);
  return Number(v);
}
function proto(a: Args): number {
  const p = PROTOS[arg(a, "NewProtocol").toUpperCase()];
  if (!p) throw fault(UPNP.INVALID_ARGS);
  return p;
}
function wildcardRemote(a: Args): void {
  const r = a.get("NewRemoteHost") ?? "";
  if (r !== "" && r !== "*" && r !== "0.0.0.0") throw fault(UPNP.REMOTE_HOST_WILDCARD);
}
const lease = (requested: number): number => (requested === 0 ? MAX_LEASE : Math.min(requested, MAX_LEASE));
const entry = (m: UpnpMapping): Out => [
  ["NewInternalPort", m.lanPort],
  ["NewInternalClient", formatAddr(m.lanAddr)],
  ["NewEnabled", 1],
  ["NewPortMappingDescription", m.description],
  ["NewLeaseDuration", m.expiresIn],
];
const find = (b: IgdBackend, p: number, port: number): UpnpMapping | undefined =>
  b.mappings().find((m) => m.proto === p && m.port === port);

// AddPortMapping and AddAnyPortMapping: the checks both make, then the mapping.
function add(b: IgdBackend, a: Args, client: number, exact: boolean): number {
  wildcardRemote(a);
  const p = proto(a);
  const ext = num(a, "NewExternalPort", 0, 65535),
    intPort = num(a, "NewInternalPort", 1, 65535);
  let internal: number;
  try {
    internal = parseAddr(arg(a, "NewInternalClient"));
  } catch {
    throw fault(UPNP.INVALID_ARGS);
  }
  if (internal !== client) throw fault(UPNP.NOT_AUTHORIZED); // only for itself
  if (ext === 0 && exact) throw fault(UPNP.WILDCARD_EXT_PORT);
  const want = ext || intPort;
  if (exact && !allowed(b.rules(), want, client, intPort)) throw fault(UPNP.NOT_AUTHORIZED);
  const enabled = a.get("NewEnabled") ?? "1";
  if (enabled === "0" || enabled === "false") throw fault(UPNP.ACTION_FAILED); // disabled entries are not kept
  const held = find(b, p, want);
  if (held && (held.lanAddr !== client || held.lanPort !== intPort)) {
    if (exact) throw fault(UPNP.CONFLICT);
  }
  const mine = b.mappings().filter((m) => m.lanAddr === client);
  if (!mine.some((m) => m.proto === p && m.lanPort === intPort) && mine.length >= MAX_PER_HOST)
    throw fault(UPNP.NO_PORT_MAPS);
  const description = (a.get("NewPortMappingDescription") ?? "").slice(0, 256);
  const port = b.map(p, client, intPort, want, exact, lease(num(a, "NewLeaseDuration", 0, 0xffffffff)), description);
  if (port < 0) throw fault(exact ? UPNP.CONFLICT : UPNP.NO_PORT_MAPS);
  if (!exact && !allowed(b.rules(), port, client, intPort)) {
    b.unmap(p, port);
    throw fault(UPNP.NOT_AUTHORIZED);
  }
  return port;
}

function removeOwn(b: IgdBackend, p: number, port: number, client: number): void {
  const m = find(b, p, port);
  if (!m) throw fault(UPNP.NO_SUCH_ENTRY);
  if (m.lanAddr !== client) throw fault(UPNP.NOT_AUTHORIZED);
  b.unmap(p, port);
}

export const IP_CONNECTION: Record<string, Action> = {
  GetConnectionTypeInfo: {
    in: [],
    out: ["NewConnectionType", "NewPossibleConnectionTypes"],
    run: () => [
      ["NewConnectionType", "IP_Routed"],
      ["NewPossibleConnectionTypes", "IP_Routed"],
    ],
  },
  GetStatusInfo: {
    in: [],
    out: ["NewConnectionStatus", "NewLastConnectionError", "NewUptime"],
    run: (b) => [
      ["NewConnectionStatus", b.publicAddr() ? "Connected" : "Disconnected"],
      ["NewLastConnectionError", "ERROR_NONE"],
      ["NewUptime", b.uptime()],
    ],
  },
  GetNATRSIPStatus: {
    in: [],
    out: ["NewRSIPAvailable", "NewNATEnabled"],
    run: () => [
      ["NewRSIPAvailable", 0],
      ["NewNATEnabled", 1],
    ],
  },
  GetExternalIPAddress: {
    in: [],
    out: ["NewExternalIPAddress"],
    run: (b) => [["NewExternalIPAddress", b.publicAddr() ? formatAddr(b.publicAddr()) : ""]],
  },
  AddPortMapping: {
    in: [
      "NewRemoteHost",
      "NewExternalPort",
      "NewProtocol",
      "NewInternalPort",
      "NewInternalClient",
      "NewEnabled",
      "NewPortMappingDescription",
      "NewLeaseDuration",
    ],
    out: [],
    run: (b, a, client) => {
      add(b, a, client, true);
      return [];
    },
  },
  AddAnyPortMapping: {
    v2: true,
    in: [
      "NewRemoteHost",
      "NewExternalPort",
      "NewProtocol",
      "NewInternalPort",
      "NewInternalClient",
      "NewEnabled",
      "NewPortMappingDescription",
      "NewLeaseDuration",
    ],
    out: ["NewReservedPort"],
    run: (b, a, client) => [["NewReservedPort", add(b, a, client, false)]],
  },
  DeletePortMapping: {
    in: ["NewRemoteHost", "NewExternalPort", "NewProtocol"],
    out: [],
    run: (b, a, client) => {
      wildcardRemote(a);
      removeOwn(b, proto(a), num(a, "NewExternalPort", 1, 65535), client);
      return [];
    },
  },
  DeletePortMappingRange: {
    v2: true,
    in: ["NewStartPort", "NewEndPort", "NewProtocol", "NewManage"],
    out: [],
    run: (b, a, client) => {
      const p = proto(a),
        lo = num(a, "NewStartPort", 0, 65535),
        hi = num(a, "NewEndPort", 0, 65535);
      if (lo > hi) throw fault(UPNP.INVALID_ARGS);
      const mine = b.mappings().filter((m) => m.proto === p && m.port >= lo && m.port <= hi && m.lanAddr === client);
      if (mine.length === 0) throw fault(UPNP.NOT_FOUND_IN_RANGE);
      for (const m of mine) b.unmap(p, m.port);
      return [];
    },
  },
  GetSpecificPortMappingEntry: {
    in: ["NewRemoteHost", "NewExternalPort", "NewProtocol"],
    out: ["NewInternalPort", "NewInternalClient", "NewEnabled", "NewPortMappingDescription", "NewLeaseDuration"],
    run: (b, a) => {
      wildcardRemote(a);
      const m = find(b, proto(a), num(a, "NewExternalPort", 1, 65535));
      if (!m) throw fault(UPNP.NO_SUCH_ENTRY);
      return entry(m);
    },
  },
  GetGenericPortMappingEntry: {
    in: ["NewPortMappingIndex"],
    out: [
      "NewRemoteHost",
      "NewExternalPort",
      "NewProtocol",
      "NewInternalPort",
      "NewInternalClient",
      "NewEnabled",
      "NewPortMappingDescription",
      "NewLeaseDuration",
    ],
    run: (b, a) => {
      const list = b.mappings();
      const m = list[num(a, "NewPortMappingIndex", 0, 65535)];
      if (!m) throw fault(UPNP.INDEX_INVALID);
      return [["NewRemoteHost", ""], ["NewExternalPort", m.port], ["NewProtocol", protoName(m.proto)], ...entry(m)];
    },
  },
  GetListOfPortMappings: {
    v2: true,
    in: ["NewStartPort", "NewEndPort", "NewProtocol", "NewManage", "NewNumberOfPorts"],
    out: ["NewPortListing"],
    run: (b, a) => {
      const p = proto(a),
        lo = num(a, "NewStartPort", 0, 65535),
        hi = num(a, "NewEndPort", 0, 65535);
      const n = num(a, "NewNumberOfPorts", 0, 65535) || 1000;
      const list = b
        .mappings()
        .filter((m) => m.proto === p && m.port >= lo && m.port <= hi)
        .slice(0, n);
      if (list.length === 0) throw fault(UPNP.NOT_FOUND_IN_RANGE);
      const item = (m: UpnpMapping): string =>
        `<p:PortMappingEntry><p:NewRemoteHost></p:NewRemoteHost><p:NewExternalPort>${m.port}</p:NewExternalPort><p:NewProtocol>${protoName(m.proto)}</p:NewProtocol><p:NewInternalPort>${m.lanPort}</p:NewInternalPort><p:NewInternalClient>${formatAddr(m.lanAddr)}</p:NewInternalClient><p:NewEnabled>1</p:NewEnabled><p:NewDescription>${escapeXml(m.description)}</p:NewDescription><p:NewLeaseTime>${m.expiresIn}</p:NewLeaseTime></p:PortMappingEntry>`;
      return [
        [
          "NewPortListing",
          `<?xml version="1.0" encoding="UTF-8"?><p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">${list.map(item).join("")}</p:PortMappingList>`,
        ],
      ];
    },
  },
};

const u32 = (n: number): number => n % 2 ** 32; // ui4 counters wrap, as the service says
export const COMMON_IF_CONFIG: Record<string, Action> = {
  GetCommonLinkProperties: {
    in: [],
    out: ["NewWANAccessType", "NewLayer1UpstreamMaxBitRate", "NewLayer1DownstreamMaxBitRate", "NewPhysicalLinkStatus"],
    run: (b) => [
      ["NewWANAccessType", "Ethernet"],
      ["NewLayer1UpstreamMaxBitRate", 1_000_000_000],
      ["NewLayer1DownstreamMaxBitRate", 1_000_000_000],
      ["NewPhysicalLinkStatus", b.publicAddr() ? "Up" : "Down"],
    ],
  },
  GetTotalBytesSent: {
    in: [],
    out: ["NewTotalBytesSent"],
    run: (b) => [["NewTotalBytesSent", u32(b.counters().bytesSent)]],
  },
  GetTotalBytesReceived: {
    in: [],
    out: ["NewTotalBytesReceived"],
    run: (b) => [["NewTotalBytesReceived", u32(b.counters().bytesReceived)]],
  },
  GetTotalPacketsSent: {
    in: [],
    out: ["NewTotalPacketsSent"],
    run: (b) => [["NewTotalPacketsSent", u32(b.counters().packetsSent)]],
  },
  GetTotalPacketsReceived: {
    in: [],
    out: ["NewTotalPacketsReceived"],
    run: (b) => [["NewTotalPacketsReceived", u32(b.counters().packetsReceived)]],
  },
};

export function runAction(
  table: Record<string, Action>,
  name: string,
  version: number,
  b: IgdBackend,
  a: Args,
  client: number,
): Out {
  const action = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!action || (action.v2 && version < 2)) throw fault(UPNP.INVALID_ACTION);
  return action.run(b, a, client);
}

export { SoapError };
