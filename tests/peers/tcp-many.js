// Many concurrent TCP connections. Server: node tcp-many.js server PORT — each connection gets back
// "<address seen>\n" followed by an echo of what it sends. Client: node tcp-many.js client HOST PORT N
// — opens N connections at once, sends 1 KiB on each, checks the echo; prints a JSON summary.
const net = require("node:net");
const [mode, a, b, c] = process.argv.slice(2);
if (mode === "server") {
  const srv = net.createServer((sock) => {
    sock.write(`${sock.remoteAddress.replace(/^::ffff:/, "")}\n`);
    sock.pipe(sock);
    sock.on("error", () => {});
  });
  srv.maxConnections = 100000;
  srv.listen(Number(a), "0.0.0.0", 4096, () => process.stdout.write(`listening ${a}\n`));
} else {
  const n = Number(c);
  const payload = Buffer.alloc(1024, 0x61);
  let ok = 0, failed = 0;
  const seen = {};
  const done = () => { if (ok + failed === n) { process.stdout.write(JSON.stringify({ ok, failed, seen }) + "\n"); process.exit(failed ? 1 : 0); } };
  setTimeout(() => { failed = n - ok; done(); }, 60000);
  for (let i = 0; i < n; i++) {
    const sock = net.connect(Number(b), a);
    let got = "";
    sock.on("connect", () => sock.write(payload));
    sock.on("data", (d) => {
      got += d;
      const nl = got.indexOf("\n");
      if (nl >= 0 && got.length - nl - 1 >= payload.length) {
        const addr = got.slice(0, nl);
        seen[addr] = (seen[addr] || 0) + 1;
        ok++; sock.destroy(); done();
      }
    });
    sock.on("error", () => { failed++; done(); });
  }
}
