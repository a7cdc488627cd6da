// UPnP IGD pieces without a network: the SOAP reader (what it refuses), the permission lines
// (miniupnpd's order and default), the actions' rules over a mapping table in memory, and the
// descriptions (every action in the SCPD, nothing of IGD:2 in IGD:1).
import t from "tap";
import { parseRequest, SoapError, MAX_BODY } from "../host/portmap/upnp/soap";
import { allowed } from "../host/portmap/upnp/permissions";
import { parseUpnpRule, type UpnpRule } from "../host/policy/upnp-rules";
import {
  type IgdBackend,
  IP_CONNECTION,
  runAction,
  type UpnpMapping,
  MAX_LEASE,
  MAX_PER_HOST,
} from "../host/portmap/upnp/igd-actions";
import { ipConnectionScpd, rootDescription } from "../host/portmap/upnp/description";
import { applyLine } from "../host/config/config-file";
import { emptyPolicy } from "../host/policy/rules";
import { policyLines } from "../host/policy/save";
import { parseAddr } from "../host/net/addr";

const SVC = "urn:schemas-upnp-org:service:WANIPConnection:1";
const envelope = (action: string, args: string): string =>
  `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action} xmlns:u="${SVC}">${args}</u:${action}></s:Body></s:Envelope>`;
const code = (f: () => unknown): number | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof SoapError ? e.code : -1;
  }
};

t.test("the SOAP reader", async (t) => {
  const r = parseRequest(
    envelope(
      "AddPortMapping",
      "<NewExternalPort>8080</NewExternalPort><NewPortMappingDescription>a &amp; b &#x263A;</NewPortMappingDescription><NewRemoteHost/>",
    ),
    `"${SVC}#AddPortMapping"`,
  );
  t.same(
    [
      r.service,
      r.action,
      r.args.get("NewExternalPort"),
      r.args.get("NewPortMappingDescription"),
      r.args.get("NewRemoteHost"),
    ],
    [SVC, "AddPortMapping", "8080", "a & b ☺", ""],
    "action, arguments, predefined entities and character references",
  );
  t.equal(
    code(() =>
      parseRequest(
        `<!DOCTYPE x [<!ENTITY a "b">]>${envelope("GetExternalIPAddress", "&a;")}`,
        `${SVC}#GetExternalIPAddress`,
      ),
    ),
    402,
    "a DOCTYPE is refused",
  );
  t.equal(
    code(() => parseRequest(envelope("X", "<![CDATA[x]]>"), `${SVC}#X`)),
    402,
    "CDATA is refused",
  );
  t.equal(
    code(() => parseRequest(envelope("GetExternalIPAddress", "x".repeat(MAX_BODY)), `${SVC}#GetExternalIPAddress`)),
    402,
    "an oversized body is refused",
  );
  t.equal(
    code(() => parseRequest(envelope("GetExternalIPAddress", ""), "nonsense")),
    401,
    "a SOAPACTION without #action is refused",
  );
  t.equal(
    code(() => parseRequest(envelope("GetExternalIPAddress", ""), `${SVC}#DeletePortMapping`)),
    401,
    "a body that is not the SOAPACTION's action is refused",
  );
  t.equal(
    code(() =>
      parseRequest(envelope("A", Array.from({ length: 40 }, (_, i) => `<N${i}>1</N${i}>`).join("")), `${SVC}#A`),
    ),
    402,
    "more than 32 arguments are refused",
  );
});

t.test("permission lines", async (t) => {
  const rules = ["allow 80 192.168.0.10 80", "deny 1024-65535 192.168.0.64/26 0-65535"].map(
    (l) => parseUpnpRule(l.split(" ")).rule!,
  );
  const lan = (s: string): number => parseAddr(s);
  t.ok(allowed([], 8080, lan("192.168.0.2"), 8080), "by default: 1024 and up on both sides");
  t.notOk(allowed([], 80, lan("192.168.0.2"), 80), "by default: not below 1024");
  t.notOk(allowed([], 8080, lan("192.168.0.2"), 22), "nor to an internal port below 1024");
  t.ok(allowed(rules, 80, lan("192.168.0.10"), 80), "an allow line opens a low port for one host");
  t.notOk(allowed(rules, 80, lan("192.168.0.11"), 80), "and for that host only");
  t.notOk(allowed(rules, 8080, lan("192.168.0.70"), 8080), "a deny line closes what the default would allow");
  t.match(parseUpnpRule(["allow", "70000", "0/0", "1"]), { at: 1, why: /not a port/ }, "a bad port range says where");
  const p = emptyPolicy();
  applyLine(p, "f.conf", 1, "upnp allow 80 192.168.0.10 80");
  t.same(policyLines(p).slice(-1), ["upnp allow 80-80 192.168.0.10/32 80-80"], "ipmasq.conf lines, saved back");
  t.throws(
    () => applyLine(p, "f.conf", 2, "upnp permit 80 0/0 80"),
    /f\.conf:2:6: upnp wants allow or deny/,
    "a bad line: file, line, column, reason",
  );
});

// The actions over a mapping table in memory, as the gateway's backend keeps it.
function memoryBackend(rules: UpnpRule[] = []): IgdBackend & { list: UpnpMapping[] } {
  const list: UpnpMapping[] = [];
  return {
    list,
    mappings: () => list,
    map(proto, lanAddr, lanPort, port, exact, lease, description) {
      const mine = list.find((m) => m.proto === proto && m.lanAddr === lanAddr && m.lanPort === lanPort);
      if (mine) {
        mine.expiresIn = lease;
        mine.description = description;
        return exact && mine.port !== port ? -1 : mine.port;
      }
      let p = port;
      while (list.some((m) => m.proto === proto && m.port === p)) {
        if (exact) return -1;
        p++;
      }
      list.push({ proto, port: p, lanAddr, lanPort, expiresIn: lease, description });
      return p;
    },
    unmap(proto, port) {
      list.splice(
        list.findIndex((m) => m.proto === proto && m.port === port),
        1,
      );
    },
    publicAddr: () => parseAddr("203.0.113.7"),
    uptime: () => 1,
    rules: () => rules,
    counters: () => ({ bytesSent: 2 ** 32 + 5, bytesReceived: 1, packetsSent: 1, packetsReceived: 1 }),
  };
}

t.test("the actions' rules", async (t) => {
  const b = memoryBackend();
  const ME = parseAddr("192.168.0.2"),
    OTHER = parseAddr("192.168.0.3");
  const add = (client: number, args: Record<string, string>, v = 1, action = "AddPortMapping"): number | undefined =>
    code(() =>
      runAction(
        IP_CONNECTION,
        action,
        v,
        b,
        new Map(
          Object.entries({
            NewRemoteHost: "",
            NewExternalPort: "8080",
            NewProtocol: "TCP",
            NewInternalPort: "8080",
            NewInternalClient: "192.168.0.2",
            NewEnabled: "1",
            NewPortMappingDescription: "d",
            NewLeaseDuration: "0",
            ...args,
          }),
        ),
        client,
      ),
    );
  t.equal(add(ME, {}), undefined, "a host maps a port to itself");
  t.equal(b.list[0].expiresIn, MAX_LEASE, "an infinite lease becomes 7 days");
  t.equal(add(OTHER, { NewInternalClient: "192.168.0.2" }), 606, "a host may not map to another's address");
  t.equal(add(OTHER, { NewInternalClient: "192.168.0.3" }), 718, "a port another host has is a conflict");
  t.equal(add(ME, { NewExternalPort: "80", NewInternalPort: "80" }), 606, "a low port is refused");
  t.equal(
    add(ME, { NewRemoteHost: "10.0.0.2", NewExternalPort: "9000", NewInternalPort: "9000" }),
    726,
    "a remote host other than the wildcard is refused",
  );
  t.equal(
    add(ME, { NewExternalPort: "0", NewInternalPort: "9001" }),
    716,
    "IGD:1 AddPortMapping wants an external port",
  );
  t.equal(
    add(OTHER, { NewInternalClient: "192.168.0.3" }, 1, "AddAnyPortMapping"),
    401,
    "AddAnyPortMapping is IGD:2 only",
  );
  t.equal(
    add(OTHER, { NewInternalClient: "192.168.0.3" }, 2, "AddAnyPortMapping"),
    undefined,
    "IGD:2 AddAnyPortMapping takes another port instead",
  );
  t.equal(b.list[1].port, 8081, "(8081)");
  t.equal(
    code(() =>
      runAction(
        IP_CONNECTION,
        "DeletePortMapping",
        1,
        b,
        new Map([
          ["NewRemoteHost", ""],
          ["NewExternalPort", "8080"],
          ["NewProtocol", "TCP"],
        ]),
        OTHER,
      ),
    ),
    606,
    "only the owner deletes a mapping",
  );
  t.equal(
    code(() =>
      runAction(IP_CONNECTION, "GetGenericPortMappingEntry", 1, b, new Map([["NewPortMappingIndex", "5"]]), ME),
    ),
    713,
    "an index past the end: 713",
  );
  t.same(
    runAction(IP_CONNECTION, "GetGenericPortMappingEntry", 1, b, new Map([["NewPortMappingIndex", "0"]]), ME).slice(
      0,
      3,
    ),
    [
      ["NewRemoteHost", ""],
      ["NewExternalPort", 8080],
      ["NewProtocol", "TCP"],
    ],
    "entry 0",
  );
  for (let i = 0; b.list.filter((m) => m.lanAddr === ME).length < MAX_PER_HOST; i++)
    add(ME, { NewExternalPort: String(20000 + i), NewInternalPort: String(20000 + i) });
  t.equal(
    add(ME, { NewExternalPort: "30000", NewInternalPort: "30000" }),
    728,
    `a host with ${MAX_PER_HOST} mappings gets no more (728)`,
  );
  t.equal(
    code(() =>
      runAction(
        IP_CONNECTION,
        "DeletePortMappingRange",
        2,
        b,
        new Map([
          ["NewStartPort", "20000"],
          ["NewEndPort", "29999"],
          ["NewProtocol", "TCP"],
          ["NewManage", "0"],
        ]),
        ME,
      ),
    ),
    undefined,
    "DeletePortMappingRange removes the host's own",
  );
  t.equal(b.list.filter((m) => m.lanAddr === ME).length, 1, "leaving the one outside the range");
  t.equal(
    code(() => runAction(IP_CONNECTION, "NoSuchAction", 1, b, new Map(), ME)),
    401,
    "an unknown action: 401",
  );
});

t.test("descriptions", async (t) => {
  const v1 = ipConnectionScpd(1),
    v2 = ipConnectionScpd(2);
  for (const name of Object.keys(IP_CONNECTION)) {
    if (IP_CONNECTION[name].v2) {
      t.notMatch(v1, `<name>${name}</name>`, `${name} not in the IGD:1 SCPD`);
      t.match(v2, `<name>${name}</name>`, `${name} in the IGD:2 SCPD`);
    } else t.match(v1, `<name>${name}</name>`, `${name} in the IGD:1 SCPD`);
  }
  t.notMatch(v1 + v2, /relatedStateVariable>undefined</, "every argument has its state variable");
  t.match(
    rootDescription(2, "00000000-0000-4000-a000-000000000001", "http://192.168.0.1:5000/"),
    /<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2<\/deviceType>[\s\S]*WANIPConnection:2/,
    "the IGD:2 tree",
  );
});
