// The manual pages (man/ipmasq.8, man/ipmasq.conf.5), carried by the artifact: `ipmasq help
// manual` and `ipmasq help conf` show them, `ipmasq install` puts them where man(1) finds them.
import { spawnSync } from "node:child_process";

export const PAGES = { manual: "ipmasq.8", conf: "ipmasq.conf.5" } as const;
export type PageName = keyof typeof PAGES;

// The page's roff source (embedded by build.mjs as text).
export function pageSource(name: PageName): string {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const text = name === "manual" ? require("../../man/ipmasq.8") : require("../../man/ipmasq.conf.5");
  return typeof text === "string" ? text : (text as { default: string }).default;
}

// Shows a page with man(1), or, without it, its text with the roff requests taken out.
export function showPage(name: PageName): number {
  const source = pageSource(name);
  const man = spawnSync("man", ["-l", "-"], { input: source, stdio: ["pipe", "inherit", "inherit"] });
  if (man.status === 0) return 0;
  process.stdout.write(
    `${source
      .split("\n")
      .filter((l) => !/^\.(TH|PP|TP|nf|fi|br|SH)\b/.test(l) || /^\.SH/.test(l))
      .map((l) =>
        l
          .replace(/^\.SH /, "\n")
          .replace(/^\.(B|I|BR|IR|RB|BI) /, "")
          .replace(/\\-/g, "-")
          .replace(/\\\(em/g, "—"),
      )
      .join("\n")}\n`,
  );
  return 0;
}
