// When to hold bursts open on an interface (gro_flush_timeout, receive-offload.ts). A hold lets
// a busy interface's packets merge into super-packets (one TUN read for many), but it delays every
// packet it holds by up to the hold: a quiet interface gains nothing (its packets are too far
// apart to merge) and a game's or a DNS query's round trip would wait a hold on each way in. So
// an interface holds only while it receives at least --gro-busy packets a second, and lets go
// below half that (so that a rate near the line does not switch it back and forth).
import { readFileSync } from "node:fs";
import type { Wiring } from "./wiring";
import { holdSettings } from "./receive-offload";

export const HOLD_SAMPLE_MS = 100;

// Whether an interface receiving `pps` packets a second should hold, given whether it does now.
export function shouldHold(holding: boolean, pps: number, busyPps: number): boolean {
  if (busyPps === 0) return true; // --gro-busy 0: always
  return holding ? pps >= busyPps / 2 : pps >= busyPps;
}

export interface HoldStatus {
  iface: string;
  holding: boolean;
  pps: number;
  switches: number;
}

interface Seen {
  packets: number;
  at: number;
  holding?: boolean;
  pps: number;
  switches: number;
}

export class ReceiveHold {
  private readonly seen = new Map<string, Seen>();
  private problem = ""; // the last setting that could not be made (logged once)

  constructor(
    private readonly holdUs: number,
    private readonly busyPps: number,
    private readonly wiring: Wiring,
    private readonly log: (msg: string) => void,
  ) {}

  // Called every HOLD_SAMPLE_MS with the interfaces whose offload ipmasq set.
  sample(ifaces: string[], now = performance.now()): void {
    for (const name of [...this.seen.keys()]) if (!ifaces.includes(name)) this.seen.delete(name);
    for (const iface of ifaces) {
      const packets = rxPackets(iface);
      if (packets === undefined) continue;
      const s = this.seen.get(iface);
      if (!s || packets < s.packets) {
        // new, or a device made again: counters start over
        this.seen.set(iface, { packets, at: now, pps: 0, switches: 0 });
        if (this.busyPps === 0) this.set(iface, this.seen.get(iface)!, true);
        continue;
      }
      s.pps = ((packets - s.packets) * 1000) / Math.max(1, now - s.at);
      s.packets = packets;
      s.at = now;
      const want = shouldHold(s.holding ?? false, s.pps, this.busyPps);
      if (want !== s.holding) this.set(iface, s, want);
    }
  }

  // A device made anew under the same name starts from the kernel's defaults.
  forget(iface: string): void {
    this.seen.delete(iface);
  }

  status(): HoldStatus[] {
    return [...this.seen.entries()].map(([iface, s]) => ({
      iface,
      holding: s.holding ?? false,
      pps: Math.round(s.pps),
      switches: s.switches,
    }));
  }

  private set(iface: string, s: Seen, hold: boolean): void {
    const settings = holdSettings(this.holdUs);
    let problem: string | undefined;
    if (hold) {
      problem = this.wiring.tuneReceive([iface], settings).problem;
    } else {
      try {
        this.wiring.releaseReceive(
          iface,
          settings.map((x) => x.name),
        );
      } catch (e) {
        problem = `receive hold on ${iface} left on: ${(e as Error).message}`;
      }
    }
    if (problem) {
      // tried again at the next sample; said once
      if (problem !== this.problem) this.log(problem);
      this.problem = problem;
      return;
    }
    if (s.holding !== undefined) s.switches++;
    s.holding = hold;
  }
}

// Packets the interface received (before GRO merged them); undefined once it is gone.
function rxPackets(iface: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${iface}/statistics/rx_packets`, "utf8"));
  } catch {
    return undefined;
  }
}
