// A small HTTP peer: GET /bytes?n=N&seed=S streams test data; POST /upload answers with the
// digest and size of what it received; every answer says which address the server saw.
const http = require("node:http");
const { createHash } = require("node:crypto");
const { chunks } = require("./data");

const port = Number(process.argv[2] || 8080);
const server = http.createServer(async (req, res) => {
  const from = req.socket.remoteAddress.replace(/^::ffff:/, "");
  const url = new URL(req.url, "http://x");
  res.setHeader("x-seen-from", from);
  if (req.method === "GET" && url.pathname === "/bytes") {
    const n = Number(url.searchParams.get("n")), seed = Number(url.searchParams.get("seed") || 1);
    res.writeHead(200, { "content-length": n, "content-type": "application/octet-stream" });
    for (const c of chunks(n, seed)) if (!res.write(c)) await new Promise((r) => res.once("drain", r));
    res.end();
  } else if (req.method === "POST" && url.pathname === "/upload") {
    const h = createHash("sha256");
    let bytes = 0;
    req.on("data", (d) => { h.update(d); bytes += d.length; });
    req.on("end", () => res.end(JSON.stringify({ sha256: h.digest("hex"), bytes, from })));
  } else {
    res.end(JSON.stringify({ from }));
  }
});
server.listen(port, () => process.stdout.write(`listening ${port}\n`));
