// NAT-PMP and PCP requests as the server's answer() sees them (the sockets' device binding is
// shown end to end in e2e-hostile-wan.test.ts): only hosts of a masqueraded network are answered,
// each may hold at most MAX_PER_HOST mappings (RFC 6887 17.1), and a PCP request for another
// host (THIRD_PARTY, RFC 6887 13.1) or with an unknown mandatory option is refused.
import t from "tap";
import type { RemoteInfo } from "node:dgram";
import { coreSetup } from "../harness/core-setup";
import { AlgState } from "../host/table/alg-state";
import { PortMappingServer, MAX_PER_HOST } from "../host/portmap/port-mapping-server";
import { type MappingChange, mappingWhy } from "../host/portmap/mapping-change";
import { parseAddr, parsePrefix } from "../host/net/addr";

const from = (address: string): RemoteInfo => ({ address, family: "IPv4", port: 5350, size: 0 });

// NAT-PMP (RFC 6886 3.3): map UDP internal port -> suggested port for `lifetime` seconds
function pmpMap(port: number, lifetime = 60): Buffer {
  const b = Buffer.alloc(12);
  b[1] = 1;
  b.writeUInt16BE(port, 4);
  b.writeUInt16BE(port, 6);
  b.writeUInt32BE(lifetime, 8);
  return b;
}

// PCP MAP (RFC 6887 11.1) for `client`, with options appended
function pcpMap(client: string, port: number, options: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(60);
  b[0] = 2;
  b[1] = 1;
  b.writeUInt32BE(60, 4);
  Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...client.split(".").map(Number)]).copy(b, 8);
  b[36] = 6;
  b.writeUInt16BE(port, 40);
  b.writeUInt16BE(port, 42);
  return Buffer.concat([b, options]);
}
const option = (code: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([code, 0, body.length >> 8, body.length & 255]), body]);

t.test("port mapping requests", async (t) => {
  const s = coreSetup(4096);
  s.table.now = 1;
  const server = new PortMappingServer(
    new AlgState(s.table, s.map.alg),
    () => [parsePrefix("192.168.0.0/24")],
    () => parseAddr("10.0.0.1"),
  );

  t.equal(
    server.answer(pmpMap(40000), from("10.0.0.2")),
    undefined,
    "a host outside the masqueraded networks gets no answer",
  );
  t.equal(server.refused, 1, "and is counted");

  for (let k = 0; k < MAX_PER_HOST; k++) {
    const r = server.answer(pmpMap(40000 + k), from("192.168.0.2"))!;
    if (r.readUInt16BE(2) !== 0) {
      t.fail(`mapping ${k} refused`);
      break;
    }
  }
  t.equal(
    server.answer(pmpMap(41000), from("192.168.0.2"))!.readUInt16BE(2),
    4,
    `NAT-PMP: mapping ${MAX_PER_HOST + 1} of one host: OUT_OF_RESOURCES`,
  );
  t.equal(server.answer(pmpMap(40000, 120), from("192.168.0.2"))!.readUInt16BE(2), 0, "renewing one it holds is fine");
  t.equal(
    server.answer(pcpMap("192.168.0.2", 41001), from("192.168.0.2"))![3],
    10,
    "PCP: over the quota is USER_EX_QUOTA",
  );
  t.equal(server.answer(pmpMap(41000), from("192.168.0.3"))!.readUInt16BE(2), 0, "another host is not affected");

  const thirdParty = option(1, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 9]));
  t.equal(
    server.answer(pcpMap("192.168.0.3", 42000, thirdParty), from("192.168.0.3"))![3],
    2,
    "THIRD_PARTY: NOT_AUTHORIZED",
  );
  t.equal(
    server.answer(pcpMap("192.168.0.3", 42000, option(99, Buffer.alloc(4))), from("192.168.0.3"))![3],
    5,
    "an unknown mandatory option: UNSUPP_OPTION",
  );
  t.equal(
    server.answer(pcpMap("192.168.0.3", 42000, Buffer.from([1, 0, 0, 16])), from("192.168.0.3"))![3],
    6,
    "an option cut short: MALFORMED_OPTION",
  );
  t.equal(
    server.answer(pcpMap("192.168.0.3", 42000, option(130, Buffer.alloc(4))), from("192.168.0.3"))![3],
    0,
    "an optional option we do not know is ignored",
  );
});

t.test(
  "a pinhole's origin lives in its record: who made it, and a UPnP description cut to 64 bytes between characters",
  async (t) => {
    const s = coreSetup(4096);
    s.table.now = 1;
    const alg = new AlgState(s.table, s.map.alg);
    const lan = parseAddr("192.168.0.2");
    const changes: MappingChange[] = [];
    const server = new PortMappingServer(
      alg,
      () => [parsePrefix("192.168.0.0/24")],
      () => parseAddr("10.0.0.1"),
      (m) => changes.push(m),
    );
    server.answer(pmpMap(40100, 120), from("192.168.0.2"));
    t.match(alg.pinholeOf(17, lan, 40100), { by: "nat-pmp", description: "" }, "NAT-PMP");
    t.match(
      changes,
      [{ by: "nat-pmp", op: "map", lifetime: 120, lanPort: 40100 }],
      "the change is typed, not a sentence",
    );
    t.equal(mappingWhy(changes[0]), "nat-pmp map 120s", "the event's words are made from it");

    const long = "ü".repeat(40); // 80 bytes of UTF-8
    const port = alg.pinhole(6, lan, 8080, 8080, 3600, true, { by: "upnp", description: long });
    t.equal(port, 8080);
    t.match(
      alg.pinholeOf(6, lan, 8080),
      { by: "upnp", description: "ü".repeat(32) },
      "64 bytes kept, no character split",
    );
    alg.pinhole(6, lan, 8080, 8080, 7200, true, { by: "upnp" });
    t.equal(alg.pinholeOf(6, lan, 8080)?.description, "ü".repeat(32), "a renewal without a description keeps it");
    alg.pinhole(6, lan, 8080, 0, 0);
    t.equal(alg.pinholeOf(6, lan, 8080), undefined, "closed");
    t.equal(alg.pinhole(6, lan, 8081, 8081, 60, true), 8081);
    t.match(
      alg.pinholeOf(6, lan, 8081),
      { by: "", description: "" },
      "a pinhole made with no origin (the HA peer's) says so, and inherits nothing from the slot's last owner",
    );
  },
);
