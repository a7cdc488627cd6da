// A PCP (RFC 6887) MAP client, written from the RFC:
//   node pcp-client.js SERVER CLIENTIP PROTO INTERNALPORT LIFETIME [THIRDPARTYIP]
// Prints the response as JSON; with THIRDPARTYIP the request carries a THIRD_PARTY option (13.1).
// PROTO "announce" sends an ANNOUNCE request (14.1) instead: the header alone. An IPv6 SERVER
// and CLIENTIP (or THIRDPARTYIP) are sent as they are, IPv4 ones IPv4-mapped (5).
const dgram = require("node:dgram");
const crypto = require("node:crypto");
const net = require("node:net");

// 16 bytes of an address, as PCP carries it
function addr16(a) {
  if (!a.includes(":")) return Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...a.split(".").map(Number)]);
  const [head, tail] = a.split("::");
  const words = (s) => (s ? s.split(":").map((w) => Number.parseInt(w, 16)) : []);
  const h = words(head),
    t = tail === undefined ? [] : words(tail);
  const all = [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  for (const [i, w] of all.entries()) b.writeUInt16BE(w, 2 * i);
  return b;
}
function text(b) {
  if (b.subarray(0, 12).equals(addr16("0.0.0.0").subarray(0, 12))) return [...b.subarray(12)].join(".");
  const w = [];
  for (let i = 0; i < 16; i += 2) w.push(b.readUInt16BE(i).toString(16));
  return w.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}
const [server, clientIp, proto, internal, lifetime, thirdParty] = process.argv.slice(2);
const announce = proto === "announce";
const req = Buffer.alloc(announce ? 24 : thirdParty ? 80 : 60);
req[0] = 2;
req[1] = announce ? 0 : 1; // version 2, request, opcode ANNOUNCE or MAP
req.writeUInt32BE(Number(lifetime), 4);
addr16(clientIp).copy(req, 8);
const nonce = crypto.randomBytes(12);
if (!announce) {
  nonce.copy(req, 24);
  req[36] = proto === "tcp" ? 6 : 17;
  req.writeUInt16BE(Number(internal), 40);
  req.writeUInt16BE(Number(internal), 42); // suggested external port
}
if (thirdParty) {
  req[60] = 1;
  req.writeUInt16BE(16, 62); // option THIRD_PARTY, 16 bytes
  addr16(thirdParty).copy(req, 64);
}
const s = dgram.createSocket(net.isIPv6(server) ? "udp6" : "udp4");
const timer = setTimeout(() => {
  process.stderr.write("no answer\n");
  process.exit(1);
}, 3000);
s.on("message", (m) => {
  clearTimeout(timer);
  const head = {
    version: m[0],
    response: (m[1] & 0x80) !== 0,
    opcode: m[1] & 0x7f,
    result: m[3],
    lifetime: m.readUInt32BE(4),
    size: m.length,
  };
  process.stdout.write(
    `${JSON.stringify(
      m.length < 60
        ? head
        : {
            ...head,
            nonceEchoed: m.subarray(24, 36).equals(nonce),
            protocol: m[36],
            internalPort: m.readUInt16BE(40),
            externalPort: m.readUInt16BE(42),
            externalAddress: text(m.subarray(44, 60)),
          },
    )}\n`,
  );
  s.close();
});
s.send(req, 5351, server);
