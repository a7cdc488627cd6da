// What each control-socket request does (host/control/server.ts carries them).
import type { GatewayState } from "../gateway/gateway-state";
import type { Handler } from "./server";
import { statusOf } from "../observe/status";
import { liveChange } from "./live-change";
import { saveConfig } from "./save-config";
import { flowRows, pinholeRows } from "../table/listing";
import { HOST_SORTS, type HostSort } from "../observe/host-accounting";
import { setting } from "./settings";
import { parseAddr } from "../net/addr";
import { ROLES, type Role } from "../sync/sync-wire";

export function controlHandler(g: GatewayState, restart: () => void): Handler {
  return (req) => {
    switch (req.cmd) {
      case "status":
        return { ok: statusOf(g) };
      case "conns":
        return {
          rows: (function* () {
            yield* flowRows(g.table);
            yield* pinholeRows(g.alg, g.follower.publicAddr, g.table);
          })(),
        };
      case "hosts": {
        const sort = (req.args as { sort?: string } | undefined)?.sort ?? "bytes";
        if (!(HOST_SORTS as readonly string[]).includes(sort)) return { error: `sort by ${HOST_SORTS.join(", ")}` };
        return { ok: g.hosts.rows(sort as HostSort) };
      }
      case "events":
        return {
          stream: (send) => {
            send({ following: "events" });
            return g.events.subscribe((e) => {
              send(e);
            });
          },
        };
      case "set":
        return setting(g, (req.args as string[]) ?? []);
      case "role": {
        const role = (req.args as string[] | undefined)?.[0] as Role;
        if (!ROLES.includes(role)) return { error: `a role is ${ROLES.join(", ")}; got "${role ?? ""}"` };
        if (!g.options.sync)
          return { error: "this gateway is not a member of an HA pair (run it with --sync-peer): it always forwards" };
        const was = g.setRole(role);
        const doing = role === "master" ? "forwarding" : "forwarding nothing, keeping the table in sync";
        return {
          ok: {
            text: `${role}${was === role ? " (already)" : ` (was ${was})`}: ${doing}
`,
            json: { role, was },
          },
        };
      }
      case "flush": {
        const host = (req.args as string[] | undefined)?.[0];
        let addr: number | undefined;
        if (host !== undefined) {
          try {
            addr = parseAddr(host);
          } catch {
            return { error: `not an IPv4 address: "${host}"` };
          }
        }
        const n = g.table.flush(addr);
        return {
          ok: {
            text: `${n} connection${n === 1 ? "" : "s"} forgotten${host ? ` of ${host}` : ""}\n`,
            json: { flushed: n },
          },
        };
      }
      case "ipchains":
      case "portfw":
        return liveChange(g, req.cmd, (req.args as string[]) ?? []);
      case "save":
        return saveConfig(g.options.config, g.policy);
      case "restart":
        setImmediate(restart);
        return {
          ok: { text: "restarting: the connection table is handed to a new process\n", json: { restarting: true } },
        };
      default:
        return { error: `unknown command ${JSON.stringify(req.cmd)}` };
    }
  };
}
