// The configuration file: the seed's /etc/rc.d/rc.ipmasq as written. ipchains and ipmasqadm
// portfw lines make the policy; the shell lines around them that ipmasq does itself (ip_forward,
// loading ip_masq modules) are recognised and need no action; shell variables assigned at the top
// (IPCHAINS=/sbin/ipchains, EXTIF="eth0", as the IP-Masquerade HOWTO's rc.firewall did) are
// expanded where used as $NAME or ${NAME}. Anything else — a loop, an `if`, an unset variable, any
// bad line — refuses the whole file: the policy is built on a fresh copy and only returned when
// all is right.
import { readFileSync } from "node:fs";
import { ConfigError, runIpchains, runPortfw, tokenize, type Token } from "../policy/ipchains";
import { parseUpnpRule } from "../policy/upnp-rules";
import { type Policy, emptyPolicy } from "../policy/rules";

// Lines from the seed's script that ipmasq does by itself.
const BUILT_IN_LINES: RegExp[] = [
  /^#!/, // the shebang
  /^echo\s+"?1"?\s*>\s*\/proc\/sys\/(net\/)?ipv4\/ip_forward$/, // ipmasq enables forwarding itself
  /^(\/sbin\/)?depmod(\s+-a)?$/, // no kernel modules are needed
  /^(\/sbin\/)?modprobe\s+ip_masq_\w+$/, // helpers are built in (FTP on by default)
];
const IPCHAINS = /^((\/usr)?\/sbin\/)?ipchains$/;
const IPMASQADM = /^((\/usr)?\/sbin\/)?ipmasqadm$/;

export interface Config {
  file: string;
  policy: Policy;
  warnings: string[];
}

// NAME=value (also `export NAME=value`): the value bare, "double-quoted" or 'single-quoted'.
const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|'([^']*)'|([^\s"'#]*))\s*(?:#.*)?$/;
// Shell control structures: refused, never guessed at.
const SHELL_CONSTRUCT =
  /^(if|then|elif|else|fi|for|while|until|do|done|case|esac|function|select)\b|^[A-Za-z_]\w*\s*\(\)|^[{}]/;
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

// $NAME and ${NAME} in `text` (at `column` of the line), from `vars`.
function expand(text: string, vars: Map<string, string>, file: string, lineNo: number, column: number): string {
  return text.replace(VARIABLE, (_whole, braced: string | undefined, bare: string | undefined, at: number) => {
    const name = (braced ?? bare)!;
    const value = vars.get(name);
    if (value === undefined) throw new ConfigError(file, lineNo, column + at, `$${name} is not set above this line`);
    return value;
  });
}

// The words of a line with variables expanded: a bare word whose value has spaces becomes several
// words, as in the shell; a quoted one stays one.
function expandTokens(toks: Token[], vars: Map<string, string>, file: string, lineNo: number): Token[] {
  return toks.flatMap((t) => {
    if (t.quote === "single" || !t.text.includes("$")) return [t];
    const text = expand(t.text, vars, file, lineNo, t.column + (t.quote ? 1 : 0));
    if (t.quote) return [{ ...t, text }];
    return text
      .split(/\s+/)
      .filter(Boolean)
      .map((w) => ({ text: w, column: t.column }));
  });
}

// Applies one line of the file to `policy`.
export function applyLine(policy: Policy, file: string, lineNo: number, raw: string, vars = new Map<string, string>()) {
  return applyTokens(policy, file, lineNo, expandTokens(tokenize(raw), vars, file, lineNo), raw.length + 1);
}

// Applies one command, already split into tokens (with their columns), to `policy`. Shared with
// live commands. `eol` is the column just past the command, for "… expected" errors.
export function applyTokens(policy: Policy, file: string, lineNo: number, toks: Token[], eol: number) {
  if (toks.length === 0) return { warnings: [] };
  if (IPCHAINS.test(toks[0].text)) return runIpchains(policy, toks.slice(1), file, lineNo, eol);
  if (IPMASQADM.test(toks[0].text)) {
    if (toks[1]?.text !== "portfw")
      throw new ConfigError(file, lineNo, toks[1]?.column ?? eol, "only `ipmasqadm portfw` is supported");
    return runPortfw(policy, toks.slice(2), file, lineNo, eol);
  }
  if (toks[0].text === "upnp") {
    // miniupnpd's permission lines (host/policy/upnp-rules.ts)
    const r = parseUpnpRule(toks.slice(1).map((t) => t.text));
    if (!r.rule) throw new ConfigError(file, lineNo, toks[1 + r.at]?.column ?? eol, r.why!);
    (policy.upnp ??= []).push(r.rule);
    return { warnings: [] };
  }
  throw new ConfigError(
    file,
    lineNo,
    toks[0].column,
    `not an ipchains, ipmasqadm or upnp line: "${toks
      .map((t) => t.text)
      .join(" ")
      .slice(0, 40)}"`,
  );
}

export function parseConfig(file: string, text: string): Config {
  const policy = emptyPolicy();
  const warnings: string[] = [];
  const vars = new Map<string, string>();
  text.split("\n").forEach((raw, n) => {
    const line = raw.trim();
    const column = raw.length - raw.trimStart().length + 1;
    if (line === "" || (line.startsWith("#") && !line.startsWith("#!"))) return;
    if (BUILT_IN_LINES.some((re) => re.test(line))) return;
    const assignment = ASSIGNMENT.exec(line);
    if (assignment) {
      const [, name, double, single, bare] = assignment;
      vars.set(name, single ?? expand(double ?? bare ?? "", vars, file, n + 1, column + name.length + 1));
      return;
    }
    const construct = SHELL_CONSTRUCT.exec(line);
    if (construct)
      throw new ConfigError(
        file,
        n + 1,
        column,
        `the shell construct "${construct[0].trim()}" is not supported: a rule file holds ipchains and ipmasqadm lines, and NAME=value lines used as $NAME`,
      );
    warnings.push(...applyLine(policy, file, n + 1, raw, vars).warnings);
  });
  return { file, policy, warnings };
}

// What an errno means, as a sentence.
const ERRNO_SENTENCES: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "is a directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ENOTDIR: "a part of the path is not a directory",
  ELOOP: "too many symbolic links",
  EMFILE: "too many open files",
};

// A rule file's text and the name its messages use; "-" is standard input. A file that cannot
// be read says why in a sentence.
export function readRuleText(file: string): { name: string; text: string } {
  try {
    return { name: file === "-" ? "<stdin>" : file, text: readFileSync(file === "-" ? 0 : file, "utf8") };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    throw new Error(
      `cannot read ${file === "-" ? "standard input" : file}: ${ERRNO_SENTENCES[code] ?? (e as Error).message}`,
    );
  }
}

export function loadConfig(file: string): Config {
  const { name, text } = readRuleText(file);
  return parseConfig(name, text);
}
