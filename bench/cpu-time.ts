// CPU time, as the benchmarks count it: the machine's busy seconds and a process's own.
import { readFileSync, readdirSync } from "node:fs";

const TICKS = 100; // USER_HZ
export const CPUS = readFileSync("/proc/stat", "utf8")
  .split("\n")
  .filter((l) => /^cpu\d/.test(l)).length;

// The machine's busy CPU seconds so far: elapsed time on every CPU minus idle time. (The busy
// fields of /proc/stat are sampled at ticks and on this VM miss most of the network softirq work
// for seconds at a time; idle time is measured, not sampled.)
export function busySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return (performance.now() / 1000) * CPUS - (f[3] + f[4]) / TICKS; // idle, iowait
}

// CPU seconds of a process, all its threads and its children still running (the C reference runs
// under a wrapper), from the scheduler's own nanosecond counts.
export function processSeconds(pid: number): number {
  let sum = 0;
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      sum += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]) / 1e9;
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter(Boolean))
        sum += processSeconds(Number(child));
    }
  } catch {
    /* gone */
  }
  return sum;
}
