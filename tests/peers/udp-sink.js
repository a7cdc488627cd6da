// UDP sink: node udp-sink.js PORT [6] — prints "listening", then "from A:P PAYLOAD" for each
// datagram; with 6, on IPv6 only.
const dgram = require("node:dgram");
const s = dgram.createSocket(process.argv[3] === "6" ? { type: "udp6", ipv6Only: true } : "udp4");
s.on("message", (msg, r) => process.stdout.write(`from ${r.address}:${r.port} ${msg}\n`));
s.bind(Number(process.argv[2]), () => process.stdout.write(`listening ${process.argv[2]}\n`));
