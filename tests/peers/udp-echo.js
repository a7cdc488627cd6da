// UDP peer. Server: node udp-echo.js server PORT [6] — answers each datagram with "seen A:P <payload>".
// Client: node udp-echo.js client HOST PORT MESSAGE [[LOCALADDR:]LOCALPORT] — prints the answer, or fails after 3 s.
// Send: node udp-echo.js send HOST PORT MESSAGE [[LOCALADDR:]LOCALPORT] — sends one datagram, waits for nothing.
// A MESSAGE of the form "bytes:N" sends N bytes of a pattern that never repeats within 64 KiB (so
// fragments put back in the wrong order change the digest) and prints the answer's length and sha256.
// Connected: node udp-echo.js connected HOST PORT MESSAGE [LOCALPORT] — a connected socket, which
// hears ICMP errors: prints "refused" when a port unreachable comes back, else the answer.
const dgram = require("node:dgram");
const [mode, a, b, c, d] = process.argv.slice(2);
// IPv6 by the address (a client's HOST), or "6" after a server's PORT
const family = (host) => (host.includes(":") ? { type: "udp6", ipv6Only: true } : "udp4");
if (mode === "server") {
  const s = dgram.createSocket(b === "6" ? { type: "udp6", ipv6Only: true } : "udp4");
  s.on("message", (msg, r) =>
    s.send(Buffer.concat([Buffer.from(`seen ${r.address}:${r.port} `), msg]), r.port, r.address),
  );
  s.bind(Number(a), () => process.stdout.write(`listening ${a}\n`));
} else {
  const s = dgram.createSocket(family(a));
  const timer = setTimeout(() => {
    process.stderr.write("no answer\n");
    process.exit(1);
  }, 3000);
  const big = /^bytes:(\d+)$/.exec(c);
  const payload = big ? Buffer.from(Array.from({ length: Number(big[1]) }, (_, i) => (i * 7 + (i >> 8)) & 255)) : c;
  s.on("message", (msg) => {
    clearTimeout(timer);
    if (big) {
      const prefix = msg.indexOf(0x20, msg.indexOf(0x20) + 1) + 1; // after "seen A:P "
      const body = msg.subarray(prefix);
      const h = require("node:crypto").createHash("sha256").update(body).digest("hex");
      process.stdout.write(`${msg.toString().split(" ").slice(0, 2).join(" ")} ${body.length} bytes sha256 ${h}\n`);
    } else process.stdout.write(`${msg}\n`);
    s.close();
  });
  if (mode === "connected") {
    s.on("error", (e) => {
      clearTimeout(timer);
      process.stdout.write(e.code === "ECONNREFUSED" ? "refused\n" : `${e.code}\n`);
      process.exit(2);
    });
    s.bind({ port: d ? Number(d) : 0 }, () => s.connect(Number(b), a, () => s.send(payload)));
  } else {
    // LOCALPORT may be ADDR:PORT, to send from a chosen local address
    const [la, lp] = d?.includes(":") ? d.split(":") : [undefined, d];
    s.bind({ port: lp ? Number(lp) : 0, address: la }, () =>
      s.send(payload, Number(b), a, () => {
        if (mode === "send") {
          clearTimeout(timer);
          s.close();
        }
      }),
    );
  }
}
