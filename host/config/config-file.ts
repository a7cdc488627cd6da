// The configuration file: the seed's /etc/rc.d/rc.ipmasq as written. ipchains lines make the
// policy; the shell lines around them that ipmasq does itself (ip_forward, loading ip_masq
// modules) are recognised and need no action. Anything else refuses the whole file.
import { readFileSync } from "node:fs";
import { ConfigError, parseIpchainsLine } from "../policy/ipchains";
import { Policy } from "../policy/rules";

// Lines from the seed's script that ipmasq does by itself.
const BUILT_IN_LINES: Array<[RegExp, string]> = [
  [/^#!/, "shebang"],
  [/^echo\s+"?1"?\s*>\s*\/proc\/sys\/(net\/)?ipv4\/ip_forward$/, "ipmasq enables forwarding itself"],
  [/^(\/sbin\/)?depmod(\s+-a)?$/, "no kernel modules are needed"],
  [/^(\/sbin\/)?modprobe\s+ip_masq_\w+$/, "helpers are built in (FTP on by default)"],
];

export interface Config { file: string; policy: Policy }

export function parseConfig(file: string, text: string): Config {
  const policy: Policy = { forward: "ACCEPT", rules: [] };
  text.split("\n").forEach((raw, n) => {
    const line = raw.trim();
    if (line === "" || (line.startsWith("#") && !line.startsWith("#!"))) return;
    if (BUILT_IN_LINES.some(([re]) => re.test(line))) return;
    if (/^((\/usr)?\/sbin\/)?ipchains(\s|$)/.test(line) || line.startsWith("-")) {
      parseIpchainsLine(file, n + 1, raw, policy);
      return;
    }
    throw new ConfigError(file, n + 1, raw.indexOf(line) + 1, `not an ipchains command: "${line.slice(0, 40)}"`);
  });
  return { file, policy };
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseConfig(file, text);
}
