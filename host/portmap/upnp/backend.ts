// The IGD actions' view of the gateway: the shared pinholes (host/table/alg-state.ts), each with
// the description its UPnP client gave it, the public address, the traffic counters and the
// permission lines of the live policy.
import type { IgdBackend, UpnpMapping } from "./igd-actions";
import type { GatewayState } from "../../gateway/gateway-state";

export function igdBackend(g: GatewayState, started: number, counters: IgdBackend["counters"]): IgdBackend {
  const mappings = (): UpnpMapping[] =>
    g.alg
      .pinholes()
      .map((p) => ({
        proto: p.proto,
        port: p.port,
        lanAddr: p.lanAddr,
        lanPort: p.lanPort,
        expiresIn: p.expiresIn,
        description: p.description,
      }))
      .sort((a, b) => a.proto - b.proto || a.port - b.port);
  return {
    mappings,
    map(proto, lanAddr, lanPort, port, exact, lease, description) {
      if (g.policy.portfw.some((f) => f.proto === proto && f.publicPort === port)) {
        if (exact) return -1; // a port forward has it
        port = 0;
      }
      const before = g.alg.pinholeOf(proto, lanAddr, lanPort);
      const got = g.alg.pinhole(proto, lanAddr, lanPort, port, lease, exact, { by: "upnp", description });
      if (got < 0) return -1;
      if (exact && got !== port) {
        if (!before) g.alg.pinhole(proto, lanAddr, lanPort, 0, 0); // made just now, on another port: undone
        return -1;
      }
      g.mappingChanged({ by: "upnp", op: "map", lifetime: lease, proto, lanAddr, lanPort, wanPort: got });
      return got;
    },
    unmap(proto, port) {
      const p = g.alg.pinholes().find((x) => x.proto === proto && x.port === port);
      if (!p) return;
      g.alg.pinhole(proto, p.lanAddr, p.lanPort, 0, 0);
      g.mappingChanged({ by: "upnp", op: "delete", proto, lanAddr: p.lanAddr, lanPort: p.lanPort, wanPort: port });
    },
    publicAddr: () => g.follower.publicAddr,
    uptime: () => Math.floor((Date.now() - started) / 1000),
    counters,
    rules: () => g.policy.upnp ?? [],
  };
}
