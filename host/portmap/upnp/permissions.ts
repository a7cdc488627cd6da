// Whether a UPnP IGD request may map a port: the first of the policy's `upnp` lines
// (host/policy/upnp-rules.ts) that matches the external port, the client's address and the
// internal port decides; after them comes the default.
import { inPrefix } from "../../net/addr";
import { type UpnpRule, DEFAULT_UPNP_RULES } from "../../policy/upnp-rules";

export function allowed(rules: UpnpRule[], extPort: number, client: number, intPort: number): boolean {
  const within = (p: number, [lo, hi]: [number, number]): boolean => p >= lo && p <= hi;
  for (const r of [...rules, ...DEFAULT_UPNP_RULES]) {
    if (within(extPort, r.ext) && inPrefix(client, r.client) && within(intPort, r.int)) return r.allow;
  }
  return false;
}
