// UPnP IGD with clients nobody here wrote: miniupnpc's upnpc from the LAN host finds the gateway,
// maps a port the WAN host then reaches, lists and deletes it; Python's miniupnpc confirms. What
// must not work does not: a mapping for another host, a low port, anything from the WAN side,
// hostile SOAP and SSDP. Mappings are shared with NAT-PMP/PCP, listed by portfw -l, reported as
// events, handed over on a graceful restart, and dropped (with a GENA NOTIFY carrying the new
// address) when the WAN address changes.
import t from "tap";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening, outcome, until } from "../harness/topology";
import { BUNDLE, NODE, ipmasqCli } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");
const PY = "/usr/bin/python3";

t.test("UPnP IGD", async (t) => {
  const topo = makeTopology("upnp");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  const config = writeConfig(topo);
  await waitListening(topo.spawn(topo.lan, [NODE, join(PEERS, "http-server.js"), "8080"]));
  // The test WAN is 10.0.0.0/24, private space: miniupnpc calls an IGD whose external address is
  // reserved "not connected?" (double NAT) and acts on it only with -i.
  const upnpc = (...args: string[]): { code: number; out: string } =>
    outcome(() => topo.exec(topo.lan, ["upnpc", "-i", ...args], { timeout: 30_000 }));

  const off = await startGateway(topo, ["--config", config], state);
  t.match(upnpc("-s").out, /No IGD UPnP Device found/, "off by default: nothing answers discovery");
  off.proc.kill("SIGTERM");
  await waitExit(off.proc);

  const g = await startGateway(topo, ["--config", config, "--upnp", "on", "--pcp", "on"], state);
  const cli = ipmasqCli(topo.exec, topo.gw, state);
  // the gateway of the moment (a graceful restart below replaces the process), stopped cleanly
  t.teardown(async () => {
    try {
      const pid = Number(JSON.parse(cli("status", "--json")).pid);
      process.kill(pid, "SIGTERM");
      await until(() => !existsSync(`/proc/${pid}`), 15_000);
    } catch {
      /* not running */
    }
  });
  const events = topo.spawn(topo.gw, [NODE, BUNDLE, "events", "--json", "--state-dir", state]);
  let evOut = "",
    evErr = "";
  events.stdout!.on("data", (d) => {
    evOut += d;
  });
  events.stderr!.on("data", (d) => {
    evErr += d;
  });
  await until(() => evErr.includes("following"), 10_000);

  t.match(
    outcome(() => topo.exec(topo.lan, ["upnpc", "-s"], { timeout: 30_000 })).out,
    /Found a \(not connected\?\) IGD : http:\/\/192\.168\.0\.1:\d+\/ctl\/IPConn1/,
    'without -i upnpc finds the IGD and, as for any gateway behind NAT, calls it "not connected?" (its external address is private)',
  );
  const status = upnpc("-s").out;
  t.match(status, /IGD : (http:\/\/192\.168\.0\.1:\d+)\//, "upnpc -i -s finds the IGD on the LAN address");
  t.match(status, /ExternalIPAddress = 10\.0\.0\.1/, "and reports the external address");
  t.match(status, /Bytes:\s+Sent:\s+\d+\s+Recv:\s+\d+/, "and the WANCommonInterfaceConfig byte counters");
  const controlBase =
    /desc: (http:\/\/192\.168\.0\.1:\d+)\//.exec(status)?.[1] ?? /(http:\/\/192\.168\.0\.1:\d+)\//.exec(status)![1];

  t.match(
    upnpc("-e", "web server", "-a", "192.168.0.2", "8080", "8080", "TCP").out,
    /external 10\.0\.0\.1:8080 TCP is redirected to internal 192\.168\.0\.2:8080/,
    "upnpc -a maps 8080",
  );
  t.match(
    topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", "http://10.0.0.1:8080/"]),
    /"from":"10\.0\.0\.2"/,
    "the WAN host reaches the LAN server through it",
  );
  t.match(upnpc("-l").out, /TCP\s+8080->192\.168\.0\.2:8080\s+'web server'/, "upnpc -l lists it with its description");
  t.match(
    cli("portfw", "-l"),
    /TCP\s+10\.0\.0\.1\s+192\.168\.0\.2\s+8080\s+8080.*dynamic \(upnp, \d+s\)/,
    "ipmasq portfw -l lists it, marked dynamic",
  );
  t.match(cli("conns"), /TCP\s+MAPPED\s+192\.168\.0\.2:8080\s+\*\s+10\.0\.0\.1:8080/, "ipmasq conns lists it");
  t.match(
    topo.exec(topo.lan, ["natpmpc", "-g", "192.168.0.1", "-a", "8080", "8080", "tcp", "60"]),
    /Mapped public port 8080 protocol TCP to local port 8080/,
    "NAT-PMP sees the same mapping (renews it, same port)",
  );
  await until(() => evOut.includes('"why":"upnp map'), 5000);
  t.pass("events: UPDATE upnp map");

  t.match(
    upnpc("-a", "192.168.0.3", "8081", "8081", "TCP").out,
    /failed with code 606/,
    "a mapping for another LAN host is refused (606)",
  );
  t.match(
    upnpc("-a", "192.168.0.2", "80", "80", "TCP").out,
    /failed with code 606/,
    "a port below 1024 is refused without an allow line (606)",
  );

  // the Python binding of miniupnpc, a second client
  const py = topo.exec(
    topo.lan,
    [
      PY,
      "-c",
      `
import miniupnpc
u = miniupnpc.UPnP(); u.discoverdelay = 1000
print("devices", u.discover()); u.selectigd()
print("external", u.externalipaddress())
print("added", u.addportmapping(8090, "UDP", "192.168.0.2", 8090, "py", ""))
print("entry", u.getspecificportmapping(8090, "UDP"))
print("deleted", u.deleteportmapping(8090, "UDP"))
`,
    ],
    { timeout: 30_000 },
  );
  t.match(
    py,
    /external 10\.0\.0\.1\nadded True\nentry \('192\.168\.0\.2', 8090, 'py', True, \d+\)\ndeleted True/,
    "python3-miniupnpc: discovers, maps, reads back and deletes",
  );

  // hostile input: a billion laughs, an oversized body, truncated XML, junk SSDP
  const soap = (body: string, action = "GetExternalIPAddress"): string =>
    topo.exec(
      topo.lan,
      [
        "curl",
        "-sS",
        "--max-time",
        "5",
        "-w",
        " %{http_code}",
        "-H",
        `SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:1#${action}"`,
        "-H",
        "Content-Type: text/xml",
        "--data-binary",
        "@-",
        `${controlBase}/ctl/IPConn1`,
      ],
      { input: body },
    );
  const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddress xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">&lol2;</u:GetExternalIPAddress></s:Body></s:Envelope>`;
  t.match(
    soap(laughs),
    /<errorCode>402<\/errorCode>.* 500$/s,
    "a DOCTYPE with entities is refused (402), nothing expanded",
  );
  t.match(
    soap(
      `<s:Envelope><s:Body><u:GetExternalIPAddress>${"x".repeat(100_000)}</u:GetExternalIPAddress></s:Body></s:Envelope>`,
    ),
    / 413$/,
    "a 100 KB body is refused (413)",
  );
  t.match(
    soap("<s:Envelope><s:Body><u:GetExtern"),
    /<errorCode>401<\/errorCode>.* 500$/s,
    "truncated XML is refused (401)",
  );
  topo.exec(topo.lan, [
    PY,
    "-c",
    `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for m in [b"M-SEARCH * HTTP/1.1\\r\\n", b"\\x00" * 1400, b"M-SEARCH * HTTP/1.1\\r\\nMAN: \\"ssdp:discover\\"\\r\\nST: " + b"A" * 60000 + b"\\r\\n\\r\\n", b"NOTIFY * HTTP/1.1\\r\\n\\r\\n"]:
    s.sendto(m, ("239.255.255.250", 1900))
`,
  ]);
  t.match(soap(""), /<errorCode>40[12]<\/errorCode>/, "the control point still answers after hostile SOAP and SSDP");
  t.match(upnpc("-s").out, /ExternalIPAddress = 10\.0\.0\.1/, "and discovery still works");

  // from the WAN: no SSDP answer (to the public or the LAN address), no HTTP
  const wanSearch = topo.exec(topo.wan, [
    PY,
    "-c",
    `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
msg = b"M-SEARCH * HTTP/1.1\\r\\nHOST: 239.255.255.250:1900\\r\\nMAN: \\"ssdp:discover\\"\\r\\nMX: 1\\r\\nST: ssdp:all\\r\\n\\r\\n"
for dst in ["10.0.0.1", "192.168.0.1", "239.255.255.250"]:
    try: s.sendto(msg, (dst, 1900))
    except OSError: pass
try: print("answer", s.recvfrom(4096))
except socket.timeout: print("no answer")
`,
  ]);
  t.match(wanSearch, /^no answer/, "an M-SEARCH from the WAN gets nothing");
  t.not(
    outcome(() => topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", `${controlBase}/rootDesc1.xml`])).code,
    0,
    "the description is not reachable from the WAN",
  );

  // graceful restart: the mapping is handed over
  cli("restart");
  await until(() => /handed over to process/.test(g.log()), 20_000);
  t.match(
    upnpc("-l").out,
    /TCP\s+8080->192\.168\.0\.2:8080\s+'web server'/,
    "after ipmasq restart the mapping is still there, description and all",
  );
  t.match(
    upnpc("-s").out,
    new RegExp(`IGD : ${controlBase.replace(/[.]/g, "\\.")}/`),
    "at the same control URL (the HTTP port is handed over)",
  );
  t.match(
    topo.exec(topo.wan, ["curl", "-sS", "--max-time", "3", "http://10.0.0.1:8080/"]),
    /"from":"10\.0\.0\.2"/,
    "and still lets the WAN host in",
  );

  // deleted: the WAN host is refused again
  t.match(upnpc("-d", "8080", "TCP").out, /UPNP_DeletePortMapping\(\) returned : 0/, "upnpc -d deletes it");
  t.notMatch(upnpc("-l").out, /8080->192\.168\.0\.2/, "it is no longer listed");
  await until(
    () => outcome(() => topo.exec(topo.wan, ["curl", "-sS", "--max-time", "2", "http://10.0.0.1:8080/"])).code !== 0,
    5000,
  );
  t.pass("the WAN host is refused again");
  t.match(
    upnpc("-e", "game", "-a", "192.168.0.2", "8086", "8086", "UDP").out,
    /external 10\.0\.0\.1:8086 UDP is redirected/,
    "a new mapping, for the WAN change below",
  );

  // a GENA subscriber on the LAN host hears the new address when the WAN changes; mappings go
  const listener = topo.spawn(topo.lan, [
    PY,
    "-c",
    `
import http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_NOTIFY(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        print("NOTIFY", self.headers["SEQ"], body.replace("\\r", "").replace("\\n", ""), flush=True)
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
# socketserver's, not http.server's HTTPServer: that one looks its own name up in the DNS
s = socketserver.TCPServer(("192.168.0.2", 8099), H); print("listening", flush=True); s.serve_forever()
`,
  ]);
  let notes = "";
  listener.stdout!.on("data", (d) => {
    notes += d;
  });
  await waitListening(listener);
  const sub = topo.exec(topo.lan, [
    "curl",
    "-sS",
    "-i",
    "--max-time",
    "3",
    "-X",
    "SUBSCRIBE",
    "-H",
    "CALLBACK: <http://192.168.0.2:8099/ev>",
    "-H",
    "NT: upnp:event",
    "-H",
    "TIMEOUT: Second-300",
    `${controlBase}/evt/IPConn1`,
  ]);
  t.match(sub, /SID: uuid:[0-9a-f-]+/i, "SUBSCRIBE answered with a SID");
  await until(() => notes.includes("<ExternalIPAddress>10.0.0.1</ExternalIPAddress>"), 5000);
  t.pass("the initial event carries the external address");
  const thirdParty = topo.exec(topo.lan, [
    "curl",
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "--max-time",
    "3",
    "-X",
    "SUBSCRIBE",
    "-H",
    "CALLBACK: <http://10.0.0.2:80/>",
    "-H",
    "NT: upnp:event",
    `${controlBase}/evt/IPConn1`,
  ]);
  t.equal(thirdParty, "412", "a callback to another host is refused (412)");
  // the new address first, promoted when the old one goes (the default route stays)
  topo.exec(topo.gw, ["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"]);
  topo.exec(topo.gw, ["ip", "addr", "add", "10.0.0.9/24", "dev", "eth0"]);
  topo.exec(topo.gw, ["ip", "addr", "del", "10.0.0.1/24", "dev", "eth0"]);
  await until(() => notes.includes("<ExternalIPAddress>10.0.0.9</ExternalIPAddress>"), 15_000);
  t.pass("after the WAN address changed, a NOTIFY carries the new one");
  t.notMatch(upnpc("-l").out, /8086->192\.168\.0\.2/, "and the mappings made for the old address are gone");
  t.match(upnpc("-s").out, /ExternalIPAddress = 10\.0\.0\.9/, "upnpc -s reports the new address");
});
