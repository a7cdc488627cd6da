// Two minutes of bench:soak (bench/soak.ts) at 100 000 flows, as a test of "no growth": the table
// filled from 200 LAN hosts and churned, read the whole time (`hosts`, `conns`, the status page,
// the metrics, `events`), a graceful restart after the first minute; then the same process
// sampled a minute apart holds its memory, descriptors and threads, and every read was answered
// in full. No timing is judged here: the figures are the benchmark's.
import t from "tap";
import { runSoak } from "../bench/soak";

const FLOWS = 100_000;

t.test("soak, two minutes: nothing grows, nothing is cut short", async (t) => {
  const r = await runSoak({ minutes: 2, flows: FLOWS, restartEvery: 1, say: (l) => t.comment(l) });
  t.equal(r.samples.length, 2, "a sample each minute");
  t.equal(r.restarts, 1, "a graceful restart after the first minute");
  const [a, b] = r.samples;
  t.equal(a.pid, b.pid, "both samples of the process the restart made");
  t.ok(
    a.connections >= FLOWS * 0.9 && b.connections >= FLOWS * 0.9,
    `the table stays full: ${a.connections}, ${b.connections}`,
  );
  t.ok(b.fds <= a.fds + 3, `descriptors: ${a.fds} -> ${b.fds}`);
  t.equal(b.threads, a.threads, `threads: ${a.threads} -> ${b.threads}`);
  t.ok(b.anonMb <= a.anonMb * 1.2 + 20, `anonymous memory: ${a.anonMb} -> ${b.anonMb} MB`);
  t.ok(b.heapMb <= a.heapMb * 1.5 + 20, `main thread's heap: ${a.heapMb} -> ${b.heapMb} MB`);
  t.equal(
    r.readsFailed,
    0,
    `every read of hosts, the page and the metrics answered (but ${r.readsFailedRestarting} during the restart)`,
  );
  t.ok(
    r.conns.length > 0 && r.conns.every((c) => c.rows >= FLOWS * 0.9),
    `conns --json gave every row: ${r.conns.map((c) => c.rows).join(", ")}`,
  );
  t.ok(
    b.eventsSeen + b.eventsDropped > FLOWS,
    `ipmasq events followed the fill and the churn: ${b.eventsSeen} printed, ${b.eventsDropped} told dropped, ${b.eventsLost} lost in the ring (counted)`,
  );
  t.ok(Number.isFinite(a.probeMs) && Number.isFinite(b.probeMs), "the probe through the gateway was answered");
});
