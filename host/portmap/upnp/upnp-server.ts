// UPnP IGD on the LAN (`--upnp on`, off by default): SSDP discovery (host/portmap/upnp/ssdp.ts), the
// device and service descriptions, SOAP control (host/portmap/upnp/igd-actions.ts) and GENA eventing,
// over the gateway's one mapping table: what UPnP maps, NAT-PMP/PCP see, `ipmasq conns` lists,
// the events stream reports, and a graceful restart hands over.
//
// HTTP listens on each LAN interface's address only; a request from outside the masqueraded
// networks is refused (a WAN packet to the LAN address never gets here anyway: it comes in on
// the WAN's TUN device and finds no mapping). Bodies are capped, XML with a DOCTYPE or entities
// refused. An event subscription's callback must be the subscriber's own address, so the
// gateway cannot be made to send NOTIFYs at a third host.
import { createServer, request, type Server, type IncomingMessage, type ServerResponse } from "node:http";
import { randomUUID, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { type IgdBackend, IP_CONNECTION, COMMON_IF_CONFIG, runAction, type UpnpMapping } from "./igd-actions";
import { parseRequest, response, faultBody, SoapError, MAX_BODY } from "./soap";
import {
  PATHS,
  IGD,
  WAN_IP_CONNECTION,
  COMMON_IF,
  rootDescription,
  ipConnectionScpd,
  commonIfScpd,
} from "./description";
import { SsdpResponder, type Target } from "./ssdp";
import { formatAddr, parseAddr } from "../../net/addr";

const SERVER = "Linux UPnP/1.1 ipmasq/0.1";
const MAX_SUBSCRIPTIONS = 64; // in all
const MAX_SUB_PER_HOST = 8;
const SUB_SECONDS = 1800;

interface Subscription {
  sid: string;
  service: "ip1" | "ip2" | "cfg";
  callback: URL;
  host: string;
  expires: number;
  seq: number;
}

// A stable identity for this gateway's two devices (IGD:1 and IGD:2): from the machine id.
function deviceUuid(v: number, tun: string): string {
  let seed = "ipmasq";
  try {
    seed += readFileSync("/etc/machine-id", "utf8").trim();
  } catch {
    seed += randomUUID();
  }
  const h = createHash("sha256").update(`${seed}/${tun}/igd${v}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 31)}1`;
}

export class UpnpServer {
  private readonly servers: Array<{ server: Server; addr: string; port: number }> = [];
  private readonly subs = new Map<string, Subscription>();
  private ssdp?: SsdpResponder;
  private readonly uuid: Record<number, string>;
  refused = 0;

  constructor(
    private readonly b: IgdBackend,
    private readonly fromLan: (addr: string) => boolean,
    tun: string,
  ) {
    this.uuid = { 1: deviceUuid(1, tun), 2: deviceUuid(2, tun) };
  }

  // The HTTP port of the first LAN address (the others try the same): a graceful restart hands
  // it on, so that control points that cached the URLs keep working.
  get port(): number {
    return this.servers[0]?.port ?? 0;
  }

  async listen(lans: Array<{ iface: string; addr: string }>, port = 0): Promise<void> {
    for (const lan of lans) {
      const server = createServer((req, res) => this.handle(req, res));
      server.headersTimeout = 5000;
      server.requestTimeout = 10_000;
      server.maxHeadersCount = 40;
      const listen = (p: number): Promise<void> =>
        new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(p, lan.addr, resolve);
        });
      const want = port || this.port;
      await (want ? listen(want).catch(() => listen(0)) : listen(0));
      this.servers.push({ server, addr: lan.addr, port: (server.address() as { port: number }).port });
    }
    this.ssdp = new SsdpResponder(this.targets(), this.fromLan, SERVER);
    await this.ssdp.listen(lans);
  }

  close(): void {
    this.ssdp?.close();
    for (const s of this.servers) {
      s.server.closeAllConnections();
      s.server.close();
    }
  }

  get ssdpRefused(): number {
    return this.ssdp?.refused ?? 0;
  }

  // The WAN address or the mappings changed: subscribers of WANIPConnection hear it.
  changed(): void {
    for (const s of this.subs.values()) if (s.service !== "cfg") this.notify(s);
  }

  private location(v: number, lanAddr: string): string {
    const s = this.servers.find((x) => x.addr === lanAddr) ?? this.servers[0];
    return `http://${s.addr}:${s.port}${PATHS.root(v)}`;
  }

  // What a search finds: for each device version, the root, the devices and the services.
  private targets(): Target[] {
    const out: Target[] = [];
    for (const v of [1, 2]) {
      const uuid = this.uuid[v],
        loc = (lan: string): string => this.location(v, lan);
      const types = [
        IGD(v),
        `urn:schemas-upnp-org:device:WANDevice:${v}`,
        `urn:schemas-upnp-org:device:WANConnectionDevice:${v}`,
        WAN_IP_CONNECTION(v),
        COMMON_IF,
      ];
      out.push(
        { st: "upnp:rootdevice", usn: `uuid:${uuid}::upnp:rootdevice`, location: loc },
        { st: `uuid:${uuid}`, usn: `uuid:${uuid}`, location: loc },
      );
      for (const t of types) out.push({ st: t, usn: `uuid:${uuid}::${t}`, location: loc });
    }
    return out;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const client = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    const send = (code: number, body: string, headers: Record<string, string> = {}): void => {
      res.writeHead(code, { "content-type": 'text/xml; charset="utf-8"', server: SERVER, ...headers }).end(body);
    };
    if (!this.fromLan(client)) {
      this.refused++;
      send(403, "");
      return;
    }
    const path = (req.url ?? "").split("?")[0];
    const v = /[12]$/.exec(path.replace(/\.xml$/, ""))?.[0] === "2" ? 2 : 1;
    if (req.method === "GET") {
      if (path === PATHS.root(1) || path === PATHS.root(2)) {
        send(200, rootDescription(v, this.uuid[v], `http://${req.headers.host ?? ""}/`));
        return;
      }
      if (path === PATHS.ipScpd(1) || path === PATHS.ipScpd(2)) {
        send(200, ipConnectionScpd(v));
        return;
      }
      if (path === PATHS.cfgScpd) {
        send(200, commonIfScpd());
        return;
      }
      send(404, "");
      return;
    }
    if (req.method === "POST") {
      const control =
        path === PATHS.ipControl(1) || path === PATHS.ipControl(2)
          ? "ip"
          : path === PATHS.cfgControl
            ? "cfg"
            : undefined;
      if (!control) {
        send(404, "");
        return;
      }
      if (Number(req.headers["content-length"] ?? 0) > MAX_BODY) {
        send(413, "");
        req.destroy();
        return;
      }
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (d: string) => {
        body += d;
        if (body.length > MAX_BODY) {
          send(413, "");
          req.destroy();
        }
      });
      req.on("end", () => {
        if (res.headersSent) return;
        try {
          const soap = parseRequest(body, req.headers.soapaction as string | undefined);
          const service = control === "ip" ? WAN_IP_CONNECTION(v) : COMMON_IF;
          if (soap.service !== service) throw new SoapError(401, "Invalid Action");
          const out = runAction(
            control === "ip" ? IP_CONNECTION : COMMON_IF_CONFIG,
            soap.action,
            v,
            this.b,
            soap.args,
            parseAddr(client),
          );
          send(200, response(service, soap.action, out));
        } catch (e) {
          if (!(e instanceof SoapError)) throw e;
          send(500, faultBody(e));
        }
      });
      return;
    }
    if (req.method === "SUBSCRIBE" || req.method === "UNSUBSCRIBE") {
      this.gena(req, send, client, path);
      return;
    }
    send(405, "");
  }

  // GENA (UDA 1.1, 4): SUBSCRIBE with a callback, renewal with the SID, UNSUBSCRIBE.
  private gena(
    req: IncomingMessage,
    send: (code: number, body: string, headers?: Record<string, string>) => void,
    client: string,
    path: string,
  ): void {
    const service =
      path === PATHS.ipEvents(1)
        ? "ip1"
        : path === PATHS.ipEvents(2)
          ? "ip2"
          : path === PATHS.cfgEvents
            ? "cfg"
            : undefined;
    if (!service) {
      send(404, "");
      return;
    }
    const sid = req.headers.sid as string | undefined;
    this.expire();
    if (req.method === "UNSUBSCRIBE") {
      const s = sid ? this.subs.get(sid) : undefined;
      if (!s || s.host !== client) {
        send(412, "");
        return;
      }
      this.subs.delete(s.sid);
      send(200, "");
      return;
    }
    const seconds = Math.min(
      SUB_SECONDS,
      Number(/Second-(\d+)/i.exec((req.headers.timeout as string) ?? "")?.[1] ?? SUB_SECONDS) || SUB_SECONDS,
    );
    if (sid) {
      // renewal
      const s = this.subs.get(sid);
      if (!s || s.host !== client || req.headers.callback) {
        send(412, "");
        return;
      }
      s.expires = Date.now() + seconds * 1000;
      send(200, "", { sid: s.sid, timeout: `Second-${seconds}` });
      return;
    }
    const cb = /^<(http:\/\/[^>]+)>/.exec((req.headers.callback as string) ?? "");
    let url: URL;
    try {
      url = new URL(cb?.[1] ?? "");
    } catch {
      send(412, "");
      return;
    }
    if (req.headers.nt !== "upnp:event" || url.hostname !== client) {
      send(412, "");
      return;
    } // a callback to another host is refused
    const mine = [...this.subs.values()].filter((s) => s.host === client).length;
    if (mine >= MAX_SUB_PER_HOST || this.subs.size >= MAX_SUBSCRIPTIONS) {
      send(500, "");
      return;
    }
    const s: Subscription = {
      sid: `uuid:${randomUUID()}`,
      service,
      callback: url,
      host: client,
      expires: Date.now() + seconds * 1000,
      seq: 0,
    };
    this.subs.set(s.sid, s);
    send(200, "", { sid: s.sid, timeout: `Second-${seconds}` });
    setImmediate(() => this.notify(s)); // the initial event, after the answer
  }

  private expire(): void {
    const now = Date.now();
    for (const [sid, s] of this.subs) if (s.expires < now) this.subs.delete(sid);
  }

  // One NOTIFY with every evented variable of the subscription's service.
  private notify(s: Subscription): void {
    const vars: Array<[string, string | number]> =
      s.service === "cfg"
        ? [["PhysicalLinkStatus", this.b.publicAddr() ? "Up" : "Down"]]
        : [
            ["PossibleConnectionTypes", "IP_Routed"],
            ["ConnectionStatus", this.b.publicAddr() ? "Connected" : "Disconnected"],
            ["ExternalIPAddress", this.b.publicAddr() ? formatAddr(this.b.publicAddr()) : ""],
            ["PortMappingNumberOfEntries", this.b.mappings().length],
          ];
    const body = `<?xml version="1.0"?>\r\n<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">${vars.map(([k, x]) => `<e:property><${k}>${x}</${k}></e:property>`).join("")}</e:propertyset>\r\n`;
    const r = request({
      method: "NOTIFY",
      host: s.callback.hostname,
      port: s.callback.port || 80,
      path: s.callback.pathname + s.callback.search,
      timeout: 3000,
      headers: {
        "content-type": 'text/xml; charset="utf-8"',
        nt: "upnp:event",
        nts: "upnp:propchange",
        sid: s.sid,
        seq: String(s.seq++),
        "content-length": Buffer.byteLength(body),
      },
    });
    r.on("error", () => {
      /* the subscriber went away: its subscription expires */
    });
    r.on("timeout", () => r.destroy());
    r.on("response", (res) => res.resume());
    r.end(body);
  }
}

export type { UpnpMapping };
