// A UDP probe that is started before it is needed, so that its own start-up does not delay the
// datagram: node udp-probe.js HOST PORT — at every SIGUSR2 it sends one datagram and prints
// "answered MS" (the round trip in milliseconds) or "lost" after 3 s.
const dgram = require("node:dgram");
const [host, port] = process.argv.slice(2);
const s = dgram.createSocket("udp4");
let pending;
s.on("message", () => {
  if (!pending) return;
  clearTimeout(pending.timer);
  process.stdout.write(`answered ${(Number(process.hrtime.bigint() - pending.at) / 1e6).toFixed(2)}\n`);
  pending = undefined;
});
s.bind(0, () => {
  process.stdout.write("listening\n");
  process.on("SIGUSR2", () => {
    if (pending) return;
    pending = {
      at: process.hrtime.bigint(),
      timer: setTimeout(() => {
        pending = undefined;
        process.stdout.write("lost\n");
      }, 3000),
    };
    s.send("probe", Number(port), host);
  });
});
