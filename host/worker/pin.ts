// --pin on: worker N runs on the N-th CPU the gateway may use (modulo their number), so the
// scheduler does not move it between CPUs and its caches stay warm (bench/results/pinning.md).
import { readFileSync } from "node:fs";
import { libc, errnoName } from "../tun/libc";

// The CPUs this process may run on (taskset, cgroups), from "Cpus_allowed_list: 0-3,6".
export function allowedCpus(status = readFileSync("/proc/self/status", "utf8")): number[] {
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? "0";
  return list.split(",").flatMap((part) => {
    const [a, b] = part.split("-").map(Number);
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
}

// Returns why not, if the thread could not be pinned.
export function pinWorker(id: number): string | undefined {
  const cpus = allowedCpus();
  const cpu = cpus[id % cpus.length];
  return libc().pinThread(cpu) < 0 ? `cannot pin worker ${id} to CPU ${cpu}: ${errnoName(libc().errno())}` : undefined;
}
