// `ipmasq set NAME VALUE`: settings the running gateway changes without a restart. They live in
// the shared table header (the workers read them there) and are handed over on a restart.
import type { GatewayState } from "../gateway/gateway-state";
import type { Answer } from "./server";

const SETTINGS: Record<
  string,
  { max: number; apply: (g: GatewayState, n: number) => void; say: (n: number) => string }
> = {
  "max-conns-per-host": {
    max: 4_000_000,
    apply: (g, n) => {
      g.table.hostLimit = n;
    },
    say: (n) =>
      n
        ? `a LAN host may have ${n} connections; more get ICMP administratively prohibited`
        : "no limit of connections per host",
  },
};

export function setting(g: GatewayState, args: string[]): Answer {
  const [name, value] = args;
  const s = SETTINGS[name];
  if (!s) return { error: `no setting "${name}" (have: ${Object.keys(SETTINGS).join(", ")})` };
  if (!/^\d+$/.test(value ?? "") || Number(value) > s.max)
    return { error: `${name} must be a whole number from 0 to ${s.max}, got "${value ?? ""}"` };
  s.apply(g, Number(value));
  return { ok: { text: `${s.say(Number(value))}\n`, json: { [name]: Number(value) } } };
}
