// A small HTTP peer: GET /bytes?n=N&seed=S streams test data; POST /upload answers with the
// digest and size of what it received; every answer says which address the server saw.
//
// GET /bytes?...&rate=R paces the data at R bytes/s at the sender. Pacing at the reader (curl
// --limit-rate) does not keep a download under way at the gateway: the reader's kernel buffers
// ahead (measured: all of 40 MiB crossed the gateway in 3.2 s while curl read it at 1.6 MB/s).
// GET /rate?r=R changes the pace of every paced download under way (0: as fast as it can), so
// a test can hold a download open as long as it needs, then let it finish.
const http = require("node:http");
const { createHash } = require("node:crypto");
const { chunks } = require("./data");

const port = Number(process.argv[2] || 8080);
const paced = new Set(); // the pace of each paced download under way: { rate }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function send(res, n, seed, rate) {
  const pace = { rate };
  if (rate > 0) paced.add(pace);
  try {
    let since = Date.now(),
      sentSince = 0; // the pace counts from its last change
    for (const c of chunks(n, seed)) {
      if (pace.changed) {
        pace.changed = false;
        since = Date.now();
        sentSince = 0;
      }
      const due = pace.rate > 0 ? since + (sentSince / pace.rate) * 1000 : 0;
      if (due > Date.now()) await sleep(due - Date.now());
      if (!res.write(c)) await new Promise((r) => res.once("drain", r));
      sentSince += c.length;
    }
    res.end();
  } finally {
    paced.delete(pace);
  }
}

const server = http.createServer(async (req, res) => {
  const from = req.socket.remoteAddress.replace(/^::ffff:/, "");
  const url = new URL(req.url, "http://x");
  res.setHeader("x-seen-from", from);
  if (req.method === "GET" && url.pathname === "/bytes") {
    const n = Number(url.searchParams.get("n")),
      seed = Number(url.searchParams.get("seed") || 1);
    res.writeHead(200, { "content-length": n, "content-type": "application/octet-stream" });
    await send(res, n, seed, Number(url.searchParams.get("rate") || 0));
  } else if (req.method === "GET" && url.pathname === "/rate") {
    const r = Number(url.searchParams.get("r") || 0);
    for (const p of paced) {
      p.rate = r;
      p.changed = true;
    }
    res.end(JSON.stringify({ paced: paced.size, rate: r }));
  } else if (req.method === "POST" && url.pathname === "/upload") {
    const h = createHash("sha256");
    let bytes = 0;
    req.on("data", (d) => {
      h.update(d);
      bytes += d.length;
    });
    req.on("end", () => res.end(JSON.stringify({ sha256: h.digest("hex"), bytes, from })));
  } else {
    res.end(JSON.stringify({ from }));
  }
});
server.listen(port, () => process.stdout.write(`listening ${port}\n`));
