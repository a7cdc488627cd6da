// The tree's shape: no import cycle under host/, assembly/ and harness/ (every module imports
// downward), and shipped code — host/, assembly/, and bench/, demo/ and harness/ beside them —
// never imports test code.
import t from "tap";
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, dirname, relative, resolve } from "node:path";

const ROOT = join(__dirname, "..");

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mjs|js)$/.test(n) ? [p] : [];
  });
}

// Relative imports of a file (static, re-exports, type-only and require()), resolved to files;
// without type-only ones when `code` (what a bundle would carry).
function imports(file: string, code = false): string[] {
  const text = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => !code || !/^import type /.test(l))
    .join("\n");
  const specs = [...text.matchAll(/(?:from|import|require\()\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]);
  return specs.map((s) => {
    const base = resolve(dirname(file), s);
    return [base, `${base}.ts`, join(base, "index.ts")].find((p) => existsSync(p) && statSync(p).isFile()) ?? base;
  });
}

t.test("no import cycles", async (t) => {
  const all = ["host", "assembly", "harness"].flatMap((d) => files(join(ROOT, d)));
  const graph = new Map(all.map((f) => [f, imports(f).filter((i) => all.includes(i))]));
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, "open");
    stack.push(f);
    for (const g of graph.get(f)!) {
      if (state.get(g) === "open")
        cycles.push([...stack.slice(stack.indexOf(g)), g].map((p) => relative(ROOT, p)).join(" -> "));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of all) if (!state.has(f)) visit(f);
  t.ok(all.length > 50, `${all.length} modules read`);
  t.same(cycles, [], "every module imports downward");
});

t.test("shipped code never imports test code", async (t) => {
  const shipped = ["host", "assembly", "harness", "bench", "demo"]
    .flatMap((d) => files(join(ROOT, d)))
    .concat(join(ROOT, "build.mjs"));
  const offenders = shipped.flatMap((f) =>
    imports(f)
      .filter((i) => relative(ROOT, i).startsWith("tests/"))
      .map((i) => `${relative(ROOT, f)} imports ${relative(ROOT, i)}`),
  );
  t.same(offenders, [], "nothing in host/, assembly/, harness/, bench/, demo/ or build.mjs imports from tests/");
});

// A worker thread runs its own bundle (build.mjs: host/worker/thread.ts, whose task is runWorker in
// host/worker/loop.ts): every module it reaches is in each worker's memory, so only the data path
// may be reachable from there.
t.test("the worker threads' program reaches only the data path", async (t) => {
  const reached = new Set<string>();
  const walk = (f: string): void => {
    if (reached.has(f) || !existsSync(f)) return;
    reached.add(f);
    for (const i of imports(f, true)) walk(i);
  };
  walk(join(ROOT, "host/worker/loop.ts"));
  const names = [...reached].map((f) => relative(ROOT, f)).sort();
  const hostOnly = names.filter((n) =>
    /^host\/(cli|gateway|control|observe|portmap|web|config|kernel)\/|^host\/policy\/ipchains\.ts$|^harness\//.test(n),
  );
  t.ok(names.length > 10, `${names.length} modules reached from host/worker/loop.ts`);
  t.same(
    hostOnly,
    [],
    "none of the CLI, the gateway's composition, control server, observability, port mapping (NAT-PMP, PCP, UPnP), status page, kernel wiring, config parser or test harness",
  );
});
