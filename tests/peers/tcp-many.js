// Many concurrent TCP connections. Server: node tcp-many.js server PORT — each connection gets back
// "<address seen> <port seen>\n" followed by an echo of what it sends. Client: node tcp-many.js
// client HOST PORT N — opens N connections at once, sends 1 KiB on each, checks the echo; prints a
// JSON summary: how many worked, the addresses the server saw, and how many distinct source ports.
const net = require("node:net");
const [mode, a, b, c] = process.argv.slice(2);
if (mode === "server") {
  const srv = net.createServer((sock) => {
    sock.write(`${sock.remoteAddress.replace(/^::ffff:/, "")} ${sock.remotePort}\n`);
    sock.pipe(sock);
    sock.on("error", () => {});
  });
  srv.maxConnections = 100000;
  srv.listen(Number(a), "0.0.0.0", 4096, () => process.stdout.write(`listening ${a}\n`));
} else {
  const n = Number(c);
  const payload = Buffer.alloc(1024, 0x61);
  let ok = 0,
    failed = 0;
  const seen = {};
  const ports = new Set();
  const done = () => {
    if (ok + failed === n) {
      process.stdout.write(`${JSON.stringify({ ok, failed, seen, distinctPorts: ports.size })}\n`);
      process.exit(failed ? 1 : 0);
    }
  };
  setTimeout(() => {
    failed = n - ok;
    done();
  }, 60000);
  for (let i = 0; i < n; i++) {
    const sock = net.connect(Number(b), a);
    let got = "";
    sock.on("connect", () => sock.write(payload));
    sock.on("data", (d) => {
      got += d;
      const nl = got.indexOf("\n");
      if (nl >= 0 && got.length - nl - 1 >= payload.length) {
        const [addr, port] = got.slice(0, nl).split(" ");
        seen[addr] = (seen[addr] || 0) + 1;
        ports.add(port);
        ok++;
        sock.destroy();
        done();
      }
    });
    sock.on("error", () => {
      failed++;
      done();
    });
  }
}
