// `ipmasq save`: the live policy written back to the config file, in the rc.ipmasq form.
import { writeFileSync } from "node:fs";
import type { Policy } from "../policy/rules";
import { policyLines } from "../policy/save";
import { writePrivateFile } from "../state/private-files";
import type { Answer } from "./server";

export function saveConfig(file: string, policy: Policy): Answer {
  const text = `${policyLines(policy).join("\n")}\n`;
  try {
    writePrivateFile(file, text);
  } catch (e) {
    // under the systemd unit only the file itself is writable, not its directory: in place
    if ((e as NodeJS.ErrnoException).code !== "EROFS") throw e;
    writeFileSync(file, text);
  }
  const rules = Object.values(policy.chains).reduce((n, c) => n + c.rules.length, 0);
  return {
    ok: { text: `saved ${rules} rules and ${policy.portfw.length} port forwards to ${file}\n`, json: { file } },
  };
}
