// An interactive session and a UDP stream, for the HA failover test.
// Server: node session.js server PORT — TCP: echoes each line, prints "tcp A:P" per connection;
//   UDP on the same port: answers each datagram, prints "udp A:P MS" per datagram (MS: arrival time).
// Client: node session.js client HOST PORT SECONDS — one TCP connection, a line every 100 ms; a
//   datagram every 100 ms from one local port; then prints a JSON summary: what was sent and
//   answered, the longest wait for an answer, and whether the connection failed.
const net = require("node:net");
const dgram = require("node:dgram");
const [mode, a, b, c] = process.argv.slice(2);

if (mode === "server") {
  const port = Number(a);
  net
    .createServer((s) => {
      process.stdout.write(`tcp ${s.remoteAddress.replace(/^::ffff:/, "")}:${s.remotePort}\n`);
      s.on("error", () => {});
      s.pipe(s);
    })
    .listen(port, () => {
      const u = dgram.createSocket("udp4");
      u.on("message", (msg, r) => {
        process.stdout.write(`udp ${r.address}:${r.port} ${Date.now()}\n`);
        u.send(msg, r.port, r.address);
      });
      u.bind(port, () => process.stdout.write(`listening ${port}\n`));
    });
} else {
  const host = a,
    port = Number(b),
    seconds = Number(c);
  const r = {
    tcpSent: 0,
    tcpAnswered: 0,
    tcpLongestWaitMs: 0,
    tcpError: "",
    udpSent: 0,
    udpAnswered: 0,
    udpLongestGapMs: 0,
  };
  let lastTcp = Date.now(),
    lastUdp = Date.now(),
    buffered = "";
  const sock = net.connect(port, host);
  sock.setNoDelay(true);
  sock.on("error", (e) => {
    r.tcpError = e.code || e.message;
  });
  sock.on("data", (d) => {
    buffered += d;
    for (let i; (i = buffered.indexOf("\n")) >= 0; buffered = buffered.slice(i + 1)) {
      r.tcpAnswered++;
      r.tcpLongestWaitMs = Math.max(r.tcpLongestWaitMs, Date.now() - lastTcp);
      lastTcp = Date.now();
    }
  });
  const u = dgram.createSocket("udp4");
  u.on("message", () => {
    r.udpAnswered++;
    r.udpLongestGapMs = Math.max(r.udpLongestGapMs, Date.now() - lastUdp);
    lastUdp = Date.now();
  });
  const tick = setInterval(() => {
    if (!r.tcpError) {
      sock.write(`line ${r.tcpSent++}\n`);
    }
    u.send(`datagram ${r.udpSent++}`, port, host);
  }, 100);
  setTimeout(() => {
    clearInterval(tick);
    setTimeout(() => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    }, 1500);
  }, seconds * 1000);
}
