// New TCP connections per second: node conn-rate.js HOST PORT SECONDS CONCURRENCY [RATE]
// Each connection reads the server's first line (tcp-many.js server) and closes. Prints JSON.
// With RATE: RATE new connections a second, paced (CONCURRENCY is then ignored).
const net = require("node:net");
const [host, port, seconds, concurrency, rate] = process.argv.slice(2);
const end = Date.now() + Number(seconds) * 1000;
let done = 0,
  failed = 0,
  running = 0;
const start = Date.now();
function one() {
  if (Date.now() >= end) {
    if (--running === 0) finish();
    return;
  }
  const s = net.connect(Number(port), host);
  s.setNoDelay(true);
  s.once("data", () => {
    done++;
    s.destroy();
    one();
  });
  s.once("error", () => {
    failed++;
    s.destroy();
    one();
  });
}
let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  const secs = (Date.now() - start) / 1000;
  process.stdout.write(
    `${JSON.stringify({ connections: done, failed, seconds: secs, perSecond: Math.round(done / secs) })}\n`,
  );
}
if (rate) {
  // every 10 ms, the connections due by now
  let started = 0;
  const tick = setInterval(() => {
    if (Date.now() >= end) {
      clearInterval(tick);
      if (running === 0) finish();
      return;
    }
    const due = Math.floor(((Date.now() - start) / 1000) * Number(rate));
    for (; started < due; started++) {
      running++;
      const s = net.connect(Number(port), host);
      const over = () => {
        s.destroy();
        if (--running === 0 && Date.now() >= end) finish();
      };
      s.once("data", () => {
        done++;
        over();
      });
      s.once("error", () => {
        failed++;
        over();
      });
    }
  }, 10);
} else {
  for (let i = 0; i < Number(concurrency); i++) {
    running++;
    one();
  }
}
