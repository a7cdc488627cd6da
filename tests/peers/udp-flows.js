// Many UDP flows at once, for the soak:
//   node udp-flows.js HOST PORTMIN PORTMAX FIRSTRATE RATE SECONDS ADDR...
// One socket per local ADDR (the LAN's many hosts), each sending a small datagram to every port of
// HOST from PORTMIN to PORTMAX in turn, round after round, for SECONDS: the first round at
// FIRSTRATE datagrams a second in all (the fill), the others at RATE (the refresh). Each
// (ADDR, port) is a flow of its own at the gateway; a round refreshes them all.
// Prints one JSON line at the end: datagrams sent, send errors.
const dgram = require("node:dgram");
const [host, portMin, portMax, firstRate, rate, seconds, ...addrs] = process.argv.slice(2);
const min = Number(portMin),
  max = Number(portMax);
let pps = Number(firstRate);
const end = Date.now() + Number(seconds) * 1000;
const payload = Buffer.from("soak");
let sent = 0,
  errors = 0,
  port = min,
  who = 0;
const socks = addrs.map((a) => {
  const s = dgram.createSocket("udp4");
  s.on("error", () => errors++);
  s.bind(0, a);
  return s;
});
const TICK_MS = 10;
const timer = setInterval(() => {
  if (Date.now() >= end) {
    clearInterval(timer);
    for (const s of socks) s.close();
    process.stdout.write(`${JSON.stringify({ sent, errors })}\n`);
    return;
  }
  for (let n = Math.ceil((pps * TICK_MS) / 1000); n > 0; n--) {
    socks[who].send(payload, port, host, (e) => (e ? errors++ : sent++));
    who++;
    if (who === socks.length) {
      who = 0;
      if (port === max) {
        port = min;
        pps = Number(rate); // the first round is done
      } else port++;
    }
  }
}, TICK_MS);
