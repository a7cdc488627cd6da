// What each control-socket request does (host/control/server.ts carries them).
import { GatewayState } from "../gateway-state";
import { GatewayView, Handler, statusOf } from "./server";
import { liveChange } from "./live-change";
import { saveConfig } from "./save-config";
import { flowJson, formatFlows, pinholeRows } from "../table/listing";

export function controlHandler(g: GatewayState, view: GatewayView, restart: () => void): Handler {
  return (req) => {
    switch (req.cmd) {
      case "status": return { ok: statusOf(view) };
      case "conns": {
        const rows = [...[...g.table.flows()].map((f) => flowJson(g.table, f)), ...pinholeRows(g.alg, g.follower.publicAddr)];
        return { ok: { text: formatFlows(rows) + "\n", json: rows } };
      }
      case "ipchains": case "portfw": return liveChange(g, req.cmd, (req.args as string[]) ?? []);
      case "save": return saveConfig(g.options.config, g.policy);
      case "restart":
        setImmediate(restart);
        return { ok: { text: "restarting: the connection table is handed to a new process\n", json: { restarting: true } } };
      default: return { error: `unknown command ${JSON.stringify(req.cmd)}` };
    }
  };
}
