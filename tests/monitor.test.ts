// The network monitor's callback: a failure is said once and the callback runs again a second
// later by itself, without another change in the kernel (the change that broke it may be the last).
import t from "tap";
import { NetlinkMonitor } from "../host/kernel/monitor";

t.test("a failed follow runs again by itself, and says so once", async (t) => {
  const said: string[] = [];
  let calls = 0;
  const m = new NetlinkMonitor(
    () => {
      calls++;
      if (calls <= 2) throw new Error("ip: RTNETLINK answers: No such device");
    },
    (msg) => said.push(msg),
  );
  t.teardown(() => m.stop());
  m.trigger();
  const t0 = Date.now();
  while (calls < 3 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  t.equal(calls, 3, "it ran three times from one change: failed, failed, then followed");
  t.same(said, ["following the network: ip: RTNETLINK answers: No such device (tried again in 1 s)"], "said once");
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(calls, 3, "and once it followed, nothing more runs until the next change");
});
