// UDP sink: node udp-sink.js PORT — prints "listening", then "from A:P PAYLOAD" for each datagram.
const dgram = require("node:dgram");
const s = dgram.createSocket("udp4");
s.on("message", (msg, r) => process.stdout.write(`from ${r.address}:${r.port} ${msg}\n`));
s.bind(Number(process.argv[2]), () => process.stdout.write(`listening ${process.argv[2]}\n`));
