// A running gateway's `status`, asked straight over its control socket (named after the gateway's
// namespace, so found in its state directory): `ipmasq status` would start a Node process, whose
// CPU a benchmark's busy time would count.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { request } from "../host/control/client";

export async function gatewayStatus(stateDir: string): Promise<{ workers: Array<Record<string, number>> }> {
  const socket = readdirSync(stateDir).find((f) => /^control-.*\.sock$/.test(f));
  if (!socket) throw new Error(`no control socket in ${stateDir}: is the gateway running?`);
  return (await request(join(stateDir, socket), { cmd: "status" })) as { workers: Array<Record<string, number>> };
}
