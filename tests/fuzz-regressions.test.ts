// What fuzzing found (harness/fuzz-properties.ts), each as the case that showed it, over a real
// socket:
// - the status page: a request-target that is not a URL (`GET http://[::1`) made `new URL` throw in
//   the request handler, which ended the whole gateway; now a 400;
// - the control socket: a client that never sent a newline grew the server's buffer without
//   bound; a request that was JSON but not an object (`null`) was answered with a TypeError's text;
//   a character split between two reads was mangled.
import t from "tap";
import { connect, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStatusPage } from "../host/web/status-page";
import { ControlServer, MAX_REQUEST } from "../host/control/server";
import { coreSetup } from "../harness/core-setup";
import { HostAccounting } from "../host/observe/host-accounting";
import { Throughput } from "../host/observe/throughput";
import type { GatewayStatus } from "../host/observe/status";

// Everything a socket says until it closes (or `ms` pass).
function said(sock: Socket, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    sock.setEncoding("utf8");
    sock.on("data", (d) => (out += d));
    const done = (): void => resolve(out);
    sock.on("close", done);
    setTimeout(() => {
      sock.destroy();
      done();
    }, ms);
  });
}

t.test("the status page: a request-target that is not a URL is a 400, and the page goes on", async (t) => {
  const s = coreSetup(1024);
  const server = await startStatusPage(
    { host: "127.0.0.1", port: 0 },
    {
      status: () => ({ uptimeSeconds: 1 }) as unknown as GatewayStatus,
      table: s.table,
      mappings: () => [],
      hosts: new HostAccounting(s.table),
      traffic: new Throughput(s.memory, s.map, () => 0),
    },
  );
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const ask = async (request: string): Promise<string> => {
    const c = connect(port, "127.0.0.1");
    c.write(request);
    return said(c, 2000);
  };
  for (const target of ["http://[::1", "//[", "http://a:99999/"]) {
    const r = await ask(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:0\r\nConnection: close\r\n\r\n`);
    t.match(r, /^HTTP\/1\.1 400 /, `GET ${target}: 400`);
  }
  const ok = await ask("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:0\r\nConnection: close\r\n\r\n");
  t.match(ok, /^HTTP\/1\.1 200 [\s\S]*"uptimeSeconds":1/, "and the page still answers");
});

t.test("the control socket: an endless line is cut off, odd requests get errors", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "ipmasq-ctl-"));
  const path = join(dir, "control.sock");
  const server = new ControlServer(path, (req) => ({ ok: `cmd ${req.cmd}` }));
  await server.listen();
  t.teardown(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = (): Promise<Socket> =>
    new Promise((resolve) => {
      const c = connect(path, () => resolve(c));
    });

  const long = await open();
  const answer = said(long, 10_000);
  const chunk = "x".repeat(64 * 1024);
  for (let n = 0; n * chunk.length <= MAX_REQUEST + chunk.length && !long.destroyed; n++) long.write(chunk);
  const a = await answer;
  t.match(a, /a request line is at most 1048576 characters/, "a line past 1 MiB: told why");
  t.ok(long.destroyed || long.readableEnded, "and the connection is ended");

  const c = await open();
  const lines = said(c, 1500);
  c.write("null\n[1,2]\n42\nnot json\n");
  // a request whose last character arrives in two reads
  const req = Buffer.from('{"cmd":"stätus"}\n');
  c.write(req.subarray(0, 11));
  await new Promise((r) => setTimeout(r, 50));
  c.write(req.subarray(11));
  const got = (await lines)
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  t.same(
    got,
    [
      { error: 'a request is a JSON object, {"cmd": ...}' },
      { error: 'a request is a JSON object, {"cmd": ...}' },
      { error: 'a request is a JSON object, {"cmd": ...}' },
      { error: "request is not JSON" },
      { ok: "cmd stätus" },
    ],
    "null, an array, a number, not JSON: an error each; a character split between reads stays whole",
  );
});
