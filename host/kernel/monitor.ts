// Wakes the gateway when the kernel's links, addresses or routes change: `ip monitor` (rtnetlink)
// as a child process, its lines only a trigger; what changed is read afresh (follow-network.ts).
// Events come in bursts (a device made again brings link, address and route lines), so the
// callback runs once per burst, 50 ms after its first line. A periodic call catches anything
// missed, such as a monitor that had to be started again. A callback that fails (an `ip` command
// refused while devices are still settling) runs again a second later, not at the next change:
// the change that broke it may be the last one for a long time.
import { spawn, type ChildProcess } from "node:child_process";

const SETTLE_MS = 50;
const PERIOD_MS = 10_000;
const RETRY_MS = 1000;

export class NetlinkMonitor {
  private child?: ChildProcess;
  private timer?: NodeJS.Timeout;
  private periodic?: NodeJS.Timeout;
  private retry?: NodeJS.Timeout;
  private lastFailure = ""; // said once, until it changes or a call succeeds
  private stopped = false;

  constructor(
    private readonly onChange: () => void,
    private readonly log: (msg: string) => void,
  ) {}

  start(): void {
    this.spawnMonitor();
    this.periodic = setInterval(() => this.run(), PERIOD_MS);
  }

  private spawnMonitor(): void {
    const child = spawn("ip", ["-o", "monitor", "link", "address", "route"], { stdio: ["ignore", "pipe", "ignore"] });
    this.child = child;
    child.stdout!.on("data", () => this.trigger());
    child.on("error", (e) => this.log(`ip monitor: ${e.message}`));
    child.on("exit", () => {
      if (this.stopped) return;
      this.log("ip monitor ended: starting it again");
      setTimeout(() => {
        if (!this.stopped) {
          this.spawnMonitor();
          this.trigger();
        }
      }, 1000);
    });
  }

  trigger(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, SETTLE_MS);
  }

  private run(): void {
    try {
      this.onChange();
      this.lastFailure = "";
    } catch (e) {
      const why = (e as Error).message;
      if (why !== this.lastFailure) this.log(`following the network: ${why} (tried again in ${RETRY_MS / 1000} s)`);
      this.lastFailure = why;
      if (!this.stopped)
        this.retry ??= setTimeout(() => {
          this.retry = undefined;
          this.run();
        }, RETRY_MS);
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    clearInterval(this.periodic);
    this.child?.kill();
  }
}
