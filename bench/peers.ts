// The programs a benchmark drives, named with their Debian packages: checked before anything
// starts, installed with `--install-peers` when run as root.
import { execFileSync } from "node:child_process";

export function requirePeers(peers: Array<[string, string]>): void {
  const missing = peers.filter(([cmd]) => {
    try {
      execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map(([, p]) => p))];
  if (process.argv.includes("--install-peers") && process.getuid?.() === 0) {
    process.stderr.write(`installing ${pkgs.join(" ")}\n`);
    execFileSync(
      "sh",
      ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs.join(" ")}`],
      { stdio: "inherit" },
    );
    return;
  }
  process.stderr.write(
    `missing: ${missing.map(([c]) => c).join(", ")} — apt-get install ${pkgs.join(" ")} (or run with -- --install-peers as root)\n`,
  );
  process.exit(1);
}

// Says where a benchmark wrote its results (they are tracked files: review the diff).
export const wrote = (files: string[]): void => {
  process.stdout.write(`\nwrote ${files.join(", ")}\n`);
};
