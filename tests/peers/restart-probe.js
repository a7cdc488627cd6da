// What a LAN host notices of a gateway's restart: node restart-probe.js HOST UDP_PORT HTTP_URL PPS
// sends PPS datagrams a second to a UDP echo server and reads one HTTP download (paced by the
// server); it prints "silence AT MS" whenever the echoes stop for more than 20 ms (AT: wall-clock
// ms when they stopped), "bin AT TCP_BYTES ECHOES" every 100 ms, and on SIGTERM a JSON summary of
// what was sent and answered.
const dgram = require("node:dgram");
const http = require("node:http");
const [host, port, url, pps] = process.argv.slice(2);

const u = dgram.createSocket("udp4");
let sent = 0,
  answered = 0,
  lastEcho = Date.now(),
  tcpBytes = 0,
  binTcp = 0,
  binEchoes = 0;
u.on("message", () => {
  const now = Date.now();
  if (now - lastEcho > 20) process.stdout.write(`silence ${lastEcho} ${now - lastEcho}\n`);
  lastEcho = now;
  answered++;
  binEchoes++;
});
u.bind(0, () => {
  const every = 1000 / Number(pps);
  const start = Date.now();
  // sends on schedule (a late timer sends what it owes), so the rate holds under load
  setInterval(() => {
    for (const due = Math.floor((Date.now() - start) / every); sent < due; sent++)
      u.send(String(sent), Number(port), host);
  }, 1);
  setInterval(() => {
    process.stdout.write(`bin ${Date.now()} ${binTcp} ${binEchoes}\n`);
    binTcp = 0;
    binEchoes = 0;
  }, 100);
  http.get(url, (res) =>
    res.on("data", (d) => {
      tcpBytes += d.length;
      binTcp += d.length;
    }),
  );
  process.stdout.write("listening\n");
});
process.on("SIGTERM", () => {
  process.stdout.write(`${JSON.stringify({ sent, answered, tcpBytes })}\n`);
  process.exit(0);
});
