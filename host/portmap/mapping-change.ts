// Who maps ports for LAN applications, and how a mapping changes: what the event feed, the UPnP
// subscribers, the HA sync and the ip rules for ports outside the NAT ranges hear of.
import type { MappedBy } from "../table/alg-state";

export { MAPPERS, type MappedBy } from "../table/alg-state";

// map: made or renewed for `lifetime` seconds; delete: by its owner; expired: its lifetime ran out;
// wan-change: the public address it was made for went away (its owner maps again).
export type MappingOp = "map" | "delete" | "expired" | "wan-change";

export interface MappingChange {
  by: MappedBy | ""; // "" for a pinhole whose maker is not known (one the HA peer made)
  op: MappingOp;
  proto: number;
  lanAddr: number;
  lanPort: number;
  wanPort: number;
  lifetime?: number; // seconds, with op "map"
  wanAddr?: number; // the public address it was made for, when not the current one (op "wan-change")
}

// The event's `why` text (ipmasq events, the event log).
export function mappingWhy(m: MappingChange): string {
  switch (m.op) {
    case "map":
      return `${m.by} map ${m.lifetime ?? 0}s`;
    case "delete":
      return `${m.by} delete`;
    case "expired":
      return "mapping expired";
    case "wan-change":
      return "wan-change";
  }
}
