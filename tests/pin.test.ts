// --pin's CPU list (host/worker/pin.ts): worker N takes the N-th CPU the process may use.
import t from "tap";
import { availableParallelism } from "node:os";
import { allowedCpus } from "../host/worker/pin";

t.test("the CPUs a process may use, from /proc/self/status", async (t) => {
  t.same(allowedCpus("Name:\tnode\nCpus_allowed_list:\t0-3,6\n"), [0, 1, 2, 3, 6], "ranges and single CPUs");
  t.same(allowedCpus("Cpus_allowed_list:\t2\n"), [2], "one CPU");
  t.same(allowedCpus("Cpus_allowed_list:\t4-5,8-9\n"), [4, 5, 8, 9], "two ranges (taskset -c 4,5,8,9)");
  t.equal(
    allowedCpus().length,
    availableParallelism(),
    "this process's own list: as many CPUs as Node says it may use",
  );
});
