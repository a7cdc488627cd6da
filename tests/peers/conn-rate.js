// New TCP connections per second: node conn-rate.js HOST PORT SECONDS CONCURRENCY
// Each connection reads the server's first line (tcp-many.js server) and closes. Prints JSON.
const net = require("node:net");
const [host, port, seconds, concurrency] = process.argv.slice(2);
const end = Date.now() + Number(seconds) * 1000;
let done = 0, failed = 0, running = 0;
const start = Date.now();
function one() {
  if (Date.now() >= end) { if (--running === 0) finish(); return; }
  const s = net.connect(Number(port), host);
  s.setNoDelay(true);
  s.once("data", () => { done++; s.destroy(); one(); });
  s.once("error", () => { failed++; s.destroy(); one(); });
}
function finish() {
  const secs = (Date.now() - start) / 1000;
  process.stdout.write(JSON.stringify({ connections: done, failed, seconds: secs, perSecond: Math.round(done / secs) }) + "\n");
}
for (let i = 0; i < Number(concurrency); i++) { running++; one(); }
