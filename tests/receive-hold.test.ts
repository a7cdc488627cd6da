// When an interface holds bursts open (host/kernel/receive-hold.ts): from --gro-busy packets a
// second, until half that, so a rate near the line does not switch it on every sample.
import t from "tap";
import { shouldHold } from "../host/kernel/receive-hold";

t.test("on at the busy rate, off below half of it", async (t) => {
  t.equal(shouldHold(false, 19_999, 20_000), false, "quiet: no hold");
  t.equal(shouldHold(false, 20_000, 20_000), true, "busy: hold");
  t.equal(shouldHold(true, 10_000, 20_000), true, "holding, at half the rate: still holding");
  t.equal(shouldHold(true, 9_999, 20_000), false, "below half: let go");
  t.equal(shouldHold(false, 0, 0), true, "--gro-busy 0: always");
});
