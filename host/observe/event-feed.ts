// The connection events of the running gateway: the table's ring drained five times a second,
// UPDATEs from the port-mapping side, and the listeners (`ipmasq events` clients, the event log).
// Nothing here queues: a listener that cannot keep up drops lines and says how many.
import type { FlowEventRing } from "../table/flow-events";
import { type FlowEvent, type EventJson, eventJson } from "./event-format";

export const DRAIN_MS = 200;

export interface MappingUpdate {
  proto: number;
  lanAddr: number;
  lanPort: number;
  wanAddr: number;
  wanPort: number;
  why: string;
}

export class EventFeed {
  private readonly listeners = new Set<(e: EventJson) => void>();
  private readonly rawListeners = new Set<(e: FlowEvent) => void>(); // the HA table sync
  private timer?: NodeJS.Timeout;
  readonly counts = { NEW: 0, DESTROY: 0, UPDATE: 0 } as Record<string, number>;

  constructor(
    private readonly ring: FlowEventRing,
    private readonly afterDrain: () => void = () => {},
  ) {}

  start(): void {
    this.timer = setInterval(() => this.drain(), DRAIN_MS);
  }
  stop(): void {
    clearInterval(this.timer);
    this.drain();
  }

  // Events the ring could not hold (the host fell behind by more than the ring's length).
  get lost(): number {
    return this.ring.dropped;
  }

  drain(): void {
    for (const e of this.ring.take()) this.emit(e);
    this.afterDrain();
  }

  // A port forward or a NAT-PMP/PCP/UPnP mapping was made, renewed or removed: no remote end,
  // no counters. Drained first, so the order of the table's events and these is kept.
  update(m: MappingUpdate): void {
    this.drain();
    this.emit({
      ...m,
      type: "UPDATE",
      time: Date.now(),
      state: 0,
      remoteAddr: 0,
      remotePort: 0,
      bytesOut: 0,
      bytesIn: 0,
      pktsOut: 0,
      pktsIn: 0,
      seconds: 0,
    });
  }

  subscribe(fn: (e: EventJson) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // The events as the table wrote them (numbers, not text).
  subscribeRaw(fn: (e: FlowEvent) => void): () => void {
    this.rawListeners.add(fn);
    return () => this.rawListeners.delete(fn);
  }

  private emit(e: FlowEvent): void {
    this.counts[e.type] = (this.counts[e.type] ?? 0) + 1;
    for (const fn of this.rawListeners) fn(e);
    if (this.listeners.size === 0) return;
    const j = eventJson(e);
    for (const fn of this.listeners) fn(j);
  }
}
