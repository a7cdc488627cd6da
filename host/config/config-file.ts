// The configuration file: the seed's /etc/rc.d/rc.ipmasq as written. ipchains and ipmasqadm
// portfw lines make the policy; the shell lines around them that ipmasq does itself (ip_forward,
// loading ip_masq modules) are recognised and need no action. Anything else, or any bad line,
// refuses the whole file: the policy is built on a fresh copy and only returned when all is right.
import { readFileSync } from "node:fs";
import { ConfigError, runIpchains, runPortfw, tokenize, Token } from "../policy/ipchains";
import { Policy, emptyPolicy } from "../policy/rules";

// Lines from the seed's script that ipmasq does by itself.
const BUILT_IN_LINES: RegExp[] = [
  /^#!/, // the shebang
  /^echo\s+"?1"?\s*>\s*\/proc\/sys\/(net\/)?ipv4\/ip_forward$/, // ipmasq enables forwarding itself
  /^(\/sbin\/)?depmod(\s+-a)?$/, // no kernel modules are needed
  /^(\/sbin\/)?modprobe\s+ip_masq_\w+$/, // helpers are built in (FTP on by default)
];
const IPCHAINS = /^((\/usr)?\/sbin\/)?ipchains$/;
const IPMASQADM = /^((\/usr)?\/sbin\/)?ipmasqadm$/;

export interface Config { file: string; policy: Policy; warnings: string[] }

// Applies one line of the file to `policy`.
export function applyLine(policy: Policy, file: string, lineNo: number, raw: string) {
  return applyTokens(policy, file, lineNo, tokenize(raw), raw.length + 1);
}

// Applies one command, already split into tokens (with their columns), to `policy`. Shared with
// live commands. `eol` is the column just past the command, for "… expected" errors.
export function applyTokens(policy: Policy, file: string, lineNo: number, toks: Token[], eol: number) {
  if (toks.length === 0) return { warnings: [] };
  if (IPCHAINS.test(toks[0].text)) return runIpchains(policy, toks.slice(1), file, lineNo, eol);
  if (IPMASQADM.test(toks[0].text)) {
    if (toks[1]?.text !== "portfw") throw new ConfigError(file, lineNo, toks[1]?.column ?? eol, "only `ipmasqadm portfw` is supported");
    return runPortfw(policy, toks.slice(2), file, lineNo, eol);
  }
  throw new ConfigError(file, lineNo, toks[0].column, `not an ipchains or ipmasqadm command: "${toks.map((t) => t.text).join(" ").slice(0, 40)}"`);
}

export function parseConfig(file: string, text: string): Config {
  const policy = emptyPolicy();
  const warnings: string[] = [];
  text.split("\n").forEach((raw, n) => {
    const line = raw.trim();
    if (line === "" || (line.startsWith("#") && !line.startsWith("#!"))) return;
    if (BUILT_IN_LINES.some((re) => re.test(line))) return;
    warnings.push(...applyLine(policy, file, n + 1, raw).warnings);
  });
  return { file, policy, warnings };
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
