// A PCP (RFC 6887) MAP client, written from the RFC:
//   node pcp-client.js SERVER CLIENTIP PROTO INTERNALPORT LIFETIME [THIRDPARTYIP]
// Prints the response as JSON; with THIRDPARTYIP the request carries a THIRD_PARTY option (13.1).
// PROTO "announce" sends an ANNOUNCE request (14.1) instead: the header alone.
const dgram = require("node:dgram");
const crypto = require("node:crypto");
const [server, clientIp, proto, internal, lifetime, thirdParty] = process.argv.slice(2);
const announce = proto === "announce";
const req = Buffer.alloc(announce ? 24 : thirdParty ? 80 : 60);
req[0] = 2;
req[1] = announce ? 0 : 1; // version 2, request, opcode ANNOUNCE or MAP
req.writeUInt32BE(Number(lifetime), 4);
Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...clientIp.split(".").map(Number)]).copy(req, 8);
const nonce = crypto.randomBytes(12);
if (!announce) {
  nonce.copy(req, 24);
  req[36] = proto === "tcp" ? 6 : 17;
  req.writeUInt16BE(Number(internal), 40);
  req.writeUInt16BE(Number(internal), 42); // suggested external port
}
if (thirdParty) {
  req[60] = 1;
  req.writeUInt16BE(16, 62); // option THIRD_PARTY, 16 bytes: an IPv4-mapped address
  Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...thirdParty.split(".").map(Number)]).copy(req, 64);
}
const s = dgram.createSocket("udp4");
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
            externalAddress: [...m.subarray(56, 60)].join("."),
          },
    )}\n`,
  );
  s.close();
});
s.send(req, 5351, server);
