// `--web [ADDR:]PORT`: a read-only live status page, off by default. A bare port binds 127.0.0.1.
// Any other address must be one of a LAN interface's and needs `--web-token FILE`: the page then
// asks for the token and every API call carries it. Never all interfaces, never the WAN.
//
//   GET /               the page (host/web/assets, served from the artifact; nothing remote)
//   GET /api/status     status, workers, drops, table fill
//   GET /api/traffic    one sample a second, the last ten minutes (?since=MS: only newer ones)
//   GET /api/hosts      per-host totals (?sort=bytes|flows|rate, at most 200 rows)
//   GET /api/conns      connections (?filter=TEXT, at most 200 rows)
//
// Requests whose Host header is not the address we listen on are refused (a DNS-rebinding page
// in the operator's browser cannot read it), and the token is compared in constant time.
import { createServer, type Server, type IncomingMessage } from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readSecret } from "../state/private-files";
import { parseListen } from "../observe/metrics";
import { type HostAccounting, HOST_SORTS, type HostSort } from "../observe/host-accounting";
import type { Throughput } from "../observe/throughput";
import { flowRows, type FlowJson } from "../table/listing";
import type { ConnTable } from "../table/conntrack";
import type { GatewayStatus } from "../observe/status";
import { parseAddr, formatAddr } from "../net/addr";

export const MAX_ROWS = 200;
const MIN_TOKEN = 16;

export interface PageSources {
  status(): GatewayStatus; // host/observe/status.ts, as every view reads it
  table: ConnTable;
  mappings(): FlowJson[]; // NAT-PMP, PCP and UPnP mappings, listed with the connections
  hosts: HostAccounting;
  traffic: Throughput;
}

export interface WebListen {
  host: string;
  port: number;
  token?: Buffer;
}

// Where to listen, checked against the LAN's addresses; the token read from a file of ours.
export function webListen(spec: string, tokenFile: string | undefined, lanAddrs: number[]): WebListen {
  const { host, port } = parseListen(spec, "--web");
  let addr: number;
  try {
    addr = parseAddr(host);
  } catch {
    throw new Error(`--web wants an IPv4 address, got "${host}"`);
  }
  const loopback = addr >>> 24 === 127;
  if (!loopback && addr === 0) throw new Error("--web 0.0.0.0 would listen on the WAN too: name a LAN address");
  if (!loopback && !lanAddrs.includes(addr))
    throw new Error(
      `--web ${host}: not an address of a LAN interface (have ${lanAddrs.map(formatAddr).join(", ") || "none"})`,
    );
  if (!loopback && !tokenFile) throw new Error(`--web ${host}: a LAN address needs --web-token FILE`);
  const token = tokenFile ? readSecret(tokenFile, "--web-token", MIN_TOKEN) : undefined;
  return { host, port, token };
}

// The bundle carries the assets as text (build.mjs). Run from the sources (the tests) they are
// read from beside this file: required, the script would run (it is the browser's).
const FROM_SOURCES = existsSync(join(__dirname, "assets"));
function asset(name: "index.html" | "app.js" | "style.css"): string {
  if (FROM_SOURCES) return readFileSync(join(__dirname, "assets", name), "utf8");
  /* eslint-disable @typescript-eslint/no-require-imports */
  const text =
    name === "index.html"
      ? require("./assets/index.html")
      : name === "app.js"
        ? require("./assets/app.js")
        : require("./assets/style.css");
  return typeof text === "string" ? text : (text as { default: string }).default;
}

const TYPES = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export function connRows(table: ConnTable, mappings: FlowJson[], filter: string): { rows: FlowJson[]; more: boolean } {
  const rows: FlowJson[] = [];
  const want = filter.toLowerCase();
  const all = function* (): Generator<FlowJson> {
    yield* mappings;
    yield* flowRows(table);
  };
  for (const r of all()) {
    if (want && !`${r.proto} ${r.state} ${r.lan} ${r.remote} ${r.public}`.toLowerCase().includes(want)) continue;
    if (rows.length === MAX_ROWS) return { rows, more: true };
    rows.push(r);
  }
  return { rows, more: false };
}

// What the page answers a request: the whole decision, apart from the socket (the fuzzing
// properties call it with any method, URL and headers). A request-target that is not a URL (an
// absolute form cut short, `http://[::1`) is a 400: thrown, it would have ended the process.
export interface PageRequest {
  method?: string;
  url?: string;
  headers: IncomingMessage["headers"];
}
export interface PageAnswer {
  code: number;
  type: string;
  body: string;
}

export function pageAnswerer(listen: WebListen, src: PageSources): (req: PageRequest) => PageAnswer {
  const hostNames = new Set([
    `${listen.host}:${listen.port}`,
    ...(listen.host.startsWith("127.") ? [`localhost:${listen.port}`] : []),
  ]);
  const digest = listen.token && createHash("sha256").update(listen.token).digest();
  const authorized = (req: PageRequest): boolean => {
    if (!digest) return true;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    return m !== null && timingSafeEqual(createHash("sha256").update(m[1]).digest(), digest);
  };
  const text = (code: number, body: string): PageAnswer => ({ code, type: "text/plain", body });
  const json = (v: unknown, code = 200): PageAnswer => ({ code, type: "application/json", body: JSON.stringify(v) });

  return (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "read-only\n");
    if (!hostNames.has(req.headers.host ?? "")) return text(421, "wrong Host\n");
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://page");
    } catch {
      return text(400, "not a URL\n");
    }
    const file = url.pathname === "/" ? "index.html" : url.pathname.slice(1);
    if (file === "index.html" || file === "app.js" || file === "style.css")
      return { code: 200, type: TYPES[file], body: asset(file) };
    // the page has no icon; a browser asks for one anyway, at a time of its choosing, and a 404
    // would be an error in its console
    if (file === "favicon.ico") return text(204, "");
    if (!url.pathname.startsWith("/api/")) return text(404, "not here\n");
    if (!authorized(req)) return json({ error: "token needed" }, 401);
    switch (url.pathname) {
      case "/api/status":
        return json(src.status());
      case "/api/traffic":
        return json(src.traffic.samples(Number(url.searchParams.get("since")) || 0));
      case "/api/hosts": {
        const sort = (HOST_SORTS as readonly string[]).includes(url.searchParams.get("sort") ?? "")
          ? (url.searchParams.get("sort") as HostSort)
          : "bytes";
        return json({ sort, hosts: src.hosts.rows(sort, MAX_ROWS, 1000), total: src.hosts.count });
      }
      case "/api/conns":
        return json({
          ...connRows(src.table, src.mappings(), (url.searchParams.get("filter") ?? "").slice(0, 100)),
          live: src.table.live,
        });
      default:
        return json({ error: "no such call" }, 404);
    }
  };
}

export async function startStatusPage(listen: WebListen, src: PageSources): Promise<Server> {
  const answer = pageAnswerer(listen, src);
  const server = createServer((req, res) => {
    const a = answer(req);
    res.writeHead(a.code, { "content-type": a.type, ...SECURITY_HEADERS }).end(a.body);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, resolve);
  });
  return server;
}
