// The tree as the linter and the formatter want it (npm run lint: Biome's checks and tsc), so that
// CI refuses a change that would leave it otherwise.
import t from "tap";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

t.test("npm run lint passes: Biome's lint and format checks, and the type check", async (t) => {
  const r = spawnSync("npm", ["run", "-s", "lint"], { cwd: join(__dirname, ".."), encoding: "utf8", timeout: 300_000 });
  t.equal(r.status, 0, `npm run lint${r.status ? `:\n${(r.stdout + r.stderr).slice(-4000)}` : ""}`);
});
