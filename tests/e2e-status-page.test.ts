// The live status page in a real browser: headless Chromium (Debian's) on the LAN host opens the
// page on the gateway's LAN address while a download runs, gives the token, and the test reads
// the DOM: a growing host row for 192.168.0.2, the connection listed and filtered, a graph with
// points, no console errors. The screenshot goes to docs/ for the README. Before that: what the
// page refuses (the WAN, a wrong Host, no token, unsafe options).
import t from "tap";
import { join } from "node:path";
import { writeFileSync, chmodSync } from "node:fs";
import { chromium } from "playwright-core";
import { makeTopology, writeConfig, startGateway, waitExit, waitListening, outcome } from "../harness/topology";
import { BUNDLE, NODE } from "../harness/ipmasq-cli";

const PEERS = join(__dirname, "peers");
// the picture in the README is refreshed on purpose (IPMASQ_REFRESH_DOCS=1 npm test), never by a
// plain test run, which would leave the checkout dirty
const SCREENSHOT =
  process.env.IPMASQ_REFRESH_DOCS === "1" ? join(__dirname, "..", "docs", "status-page.png") : undefined;
const TOKEN = "correct-horse-battery-staple-42";

t.test("the status page", async (t) => {
  const topo = makeTopology("web");
  t.teardown(() => topo.destroy());
  const state = join(topo.dir, "state");
  const tokenFile = join(topo.dir, "web.token");
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const config = writeConfig(topo);
  await waitListening(topo.spawn(topo.wan, [NODE, join(PEERS, "http-server.js"), "8000"]));

  const refused = (args: string[]): string =>
    outcome(() => topo.exec(topo.gw, [NODE, BUNDLE, "run", "--state-dir", state, "--config", config, ...args])).out;
  t.match(
    refused(["--web", "0.0.0.0:8080", "--web-token", tokenFile]),
    /would listen on the WAN too/,
    "--web 0.0.0.0 refused",
  );
  t.match(
    refused(["--web", "10.0.0.1:8080", "--web-token", tokenFile]),
    /not an address of a LAN interface/,
    "--web on the WAN address refused",
  );
  t.match(
    refused(["--web", "192.168.0.1:8080"]),
    /a LAN address needs --web-token/,
    "a LAN address without a token refused",
  );
  const loose = join(topo.dir, "loose.token");
  writeFileSync(loose, `${TOKEN}\n`);
  chmodSync(loose, 0o644);
  t.match(
    refused(["--web", "192.168.0.1:8080", "--web-token", loose]),
    /others may read it/,
    "a token file others may read refused",
  );

  const g = await startGateway(
    topo,
    ["--config", config, "--web", "192.168.0.1:8080", "--web-token", tokenFile],
    state,
  );
  t.teardown(async () => {
    g.proc.kill("SIGTERM");
    await waitExit(g.proc).catch(() => undefined);
  });
  const url = "http://192.168.0.1:8080/";
  const curl = (ns: string, args: string[]): { code: number; out: string } =>
    outcome(() => topo.exec(ns, ["curl", "-sS", "--max-time", "3", ...args]));
  const loads = curl(topo.lan, ["-o", "/dev/null", "-w", "%{http_code}", url]);
  t.match(loads.out, "200", `the page loads from the LAN (${JSON.stringify(loads)})`);
  t.match(
    curl(topo.lan, ["-w", "%{http_code}", `${url}api/status`]).out,
    /token needed.*401/,
    "the API wants the token",
  );
  t.match(
    curl(topo.lan, ["-w", "%{http_code}", "-H", "Authorization: Bearer wrong-wrong-wrong-wrong", `${url}api/status`])
      .out,
    /401$/,
    "a wrong token is refused",
  );
  t.match(
    curl(topo.lan, [
      "-w",
      "%{http_code}",
      "-H",
      `Authorization: Bearer ${TOKEN}`,
      "-H",
      "Host: rebound.example:8080",
      `${url}api/status`,
    ]).out,
    /421$/,
    "a foreign Host header is refused (DNS rebinding)",
  );
  t.match(curl(topo.lan, ["-w", "%{http_code}", "-X", "POST", url]).out, /405$/, "read-only: POST refused");
  t.match(
    curl(topo.lan, ["-H", `Authorization: Bearer ${TOKEN}`, `${url}api/status`]).out,
    /"publicAddress":"10\.0\.0\.1"/,
    "with the token, the status",
  );
  const fromWan = curl(topo.wan, ["-o", "/dev/null", url]);
  t.not(fromWan.code, 0, `from the WAN the page cannot be reached (curl exit ${fromWan.code})`);

  // traffic while the page is open: a paced download of 100 MB at 4 MB/s (longer than the test)
  const download = topo.spawn(topo.lan, [
    "curl",
    "-sS",
    "-o",
    "/dev/null",
    "http://10.0.0.2:8000/bytes?n=100000000&rate=4000000",
  ]);
  t.teardown(() => {
    download.kill("SIGKILL");
  });

  // Chromium in the LAN namespace: Playwright starts it through this wrapper
  const wrapper = join(topo.dir, "chromium-in-lan");
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${topo.lan} /usr/bin/chromium "$@"\n`, { mode: 0o700 });
  const browser = await chromium.launch({
    executablePath: wrapper,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 192.168.0.1",
    ], // no name lookups: the page is an address, and nothing else may leave
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(e.message));
  await page.goto(url);
  await page.waitForSelector("#login:not([hidden])", { timeout: 10_000 });
  t.pass("without a token the page asks for it");
  // the login form's own 401 is the only console line allowed: it is what asked for the token
  problems.length = 0;
  await page.fill("#token", TOKEN);
  await page.click("#login button");

  const hostRow = async (): Promise<string[] | undefined> =>
    page.$$eval("#hosts tbody tr", (trs) =>
      trs
        .map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent ?? ""))
        .find((c) => c[0] === "192.168.0.2"),
    );
  const toBytes = (s: string): number => {
    const [n, u] = s.split(" ");
    return Number(n) * ({ B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 } as Record<string, number>)[u];
  };
  await page.waitForFunction(
    () => Array.from(document.querySelectorAll("#hosts tbody td")).some((td) => td.textContent === "192.168.0.2"),
    undefined,
    { timeout: 10_000 },
  );
  const first = await hostRow();
  await new Promise((r) => setTimeout(r, 3000));
  const second = await hostRow();
  t.ok(
    first && second && toBytes(second[4]) > toBytes(first[4]),
    `the host row for 192.168.0.2 grows: bytes in ${first?.[4]} → ${second?.[4]}`,
  );
  t.match(second?.[2] ?? "", /[kMG]bit\/s$/, `and shows a rate in (${second?.[2]})`);

  const connRows = async (): Promise<string[]> =>
    page.$$eval("#conns tbody tr", (trs) => trs.map((tr) => tr.textContent ?? ""));
  t.ok(
    (await connRows()).some((r) => r.includes("10.0.0.2:8000") && r.includes("192.168.0.2")),
    "the download is in the connection list",
  );
  await page.fill("#filter", "10.0.0.2:8000");
  await page.waitForFunction(() => document.querySelector("#conns-note")?.textContent?.startsWith("1 "), undefined, {
    timeout: 5000,
  });
  t.pass("the filter keeps the matching connection");
  await page.fill("#filter", "no-such-connection");
  await page.waitForFunction(() => document.querySelectorAll("#conns tbody tr").length === 0, undefined, {
    timeout: 5000,
  });
  t.pass("and drops what does not match");
  await page.fill("#filter", "");

  const points = await page.$eval(
    "#line-in",
    (p) => (p.getAttribute("points") ?? "").trim().split(/\s+/).filter(Boolean).length,
  );
  t.ok(points >= 2, `the graph has points (${points})`);
  t.match(await page.textContent("#wan"), /10\.0\.0\.1/, "the WAN address is shown");
  t.match(await page.textContent("#conns-count"), /of 65536/, "and the table fill");

  await page.click("th[data-sort=flows]");
  await page.waitForFunction(
    () => document.querySelector("#hosts-note")?.textContent?.includes("sorted by flows"),
    undefined,
    { timeout: 5000 },
  );
  t.pass("hosts sort by flows on a click");
  await page.click("th[data-sort=bytes]");
  await page.waitForFunction(
    () => document.querySelector("#hosts-note")?.textContent?.includes("sorted by bytes"),
    undefined,
    { timeout: 5000 },
  );
  if (SCREENSHOT) {
    // a few more seconds of traffic, with some pings beside the download, for the README's picture
    topo.exec(topo.lan, ["ping", "-c", "3", "-i", "0.3", "10.0.0.2"]);
    await new Promise((r) => setTimeout(r, 6000));
    await page.screenshot({ path: SCREENSHOT });
  }
  t.same(problems, [], "no console errors");
});
