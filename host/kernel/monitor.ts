// Wakes the gateway when the kernel's links, addresses or routes change: `ip monitor` (rtnetlink)
// as a child process, its lines only a trigger; what changed is read afresh (follow-network.ts).
// Events come in bursts (a device made again brings link, address and route lines), so the
// callback runs once per burst, 50 ms after its first line. A periodic call catches anything
// missed, such as a monitor that had to be started again.
import { spawn, type ChildProcess } from "node:child_process";

const SETTLE_MS = 50;
const PERIOD_MS = 10_000;

export class NetlinkMonitor {
  private child?: ChildProcess;
  private timer?: NodeJS.Timeout;
  private periodic?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly onChange: () => void,
    private readonly log: (msg: string) => void,
  ) {}

  start(): void {
    this.spawnMonitor();
    this.periodic = setInterval(() => this.onChange(), PERIOD_MS);
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
      this.onChange();
    }, SETTLE_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.periodic);
    this.child?.kill();
  }
}
