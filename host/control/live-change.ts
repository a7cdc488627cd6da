// `ipmasq ipchains …` and `ipmasq portfw …` on the running gateway: the command's arguments come
// as tokens (never joined and split again) and run on a copy of the live policy; only a command
// that succeeds replaces it, and the workers, the kernel rules and the timeouts follow.
import { applyTokens } from "../config/config-file";
import { ConfigError, type Token } from "../policy/ipchains";
import { formatRules, rulesJson, formatPortfw, portfwJson } from "../policy/listing";
import { flowJson, formatMasqList } from "../table/listing";
import type { Answer } from "./server";
import type { GatewayState } from "../gateway/gateway-state";

// The tokens of `kind args…`, with the columns they have in the command as it is shown.
function commandTokens(kind: "ipchains" | "portfw", args: string[]): { toks: Token[]; shown: string } {
  const words = [...(kind === "ipchains" ? ["ipchains"] : ["ipmasqadm", "portfw"]), ...args];
  const toks: Token[] = [];
  let shown = "";
  for (const w of words) {
    if (shown) shown += " ";
    const quoted = /\s/.test(w) ? `"${w}"` : w;
    toks.push({ text: w, column: shown.length + 1 });
    shown += quoted;
  }
  return { toks, shown };
}

export function liveChange(g: GatewayState, kind: "ipchains" | "portfw", args: string[]): Answer {
  const next = JSON.parse(JSON.stringify(g.policy));
  const { toks, shown } = commandTokens(kind, args);
  let res: ReturnType<typeof applyTokens>;
  try {
    res = applyTokens(next, "command", 1, toks, shown.length + 1);
  } catch (e) {
    if (e instanceof ConfigError) return { error: `${e.reason} (at "${shown.slice(e.column - 1)}")` };
    throw e;
  }
  if (res.zero) g.shared.zero();
  if (res.list) {
    const numeric = args.includes("-n"),
      verbose = args.includes("-v");
    if (res.list.masq) {
      const rows = [...g.table.flows()].map((f) => flowJson(g.table, f));
      return { ok: { text: formatMasqList(rows), json: rows } };
    }
    if (res.list.chain === "portfw") {
      const dynamic = g.alg.pinholes().map((p) => ({ ...p, publicAddr: g.follower.publicAddr, by: p.by }));
      return { ok: { text: formatPortfw(g.policy, dynamic), json: portfwJson(g.policy, dynamic) } };
    }
    return {
      ok: {
        text: formatRules(g.policy, g.shared, { chain: res.list.chain, numeric, verbose }),
        json: rulesJson(g.policy, g.shared, res.list.chain),
      },
    };
  }
  const problem = g.setPolicy(next);
  if (problem) return { error: `not applied: ${problem}` };
  return {
    ok: { text: res.warnings.map((w) => `warning: ${w}\n`).join(""), json: { applied: shown, warnings: res.warnings } },
  };
}
