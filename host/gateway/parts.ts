// The running gateway as an ordered list of parts (host/gateway/gateway.ts writes the list): each starts
// after the ones before it and stops before them, so start-up and shut-down are one list, read
// forwards and backwards.
export interface Part {
  name: string;
  start(): void | Promise<void>;
  // Also called when its own start failed half-way: it must tolerate what was not done.
  stop?(): void | Promise<void>;
}

export class Parts {
  private readonly running: Part[] = [];
  constructor(private readonly log: (msg: string) => void) {}

  // Starts each part in order. When one fails, it and those before it are stopped (in reverse)
  // and the failure is thrown: nothing is left half-started.
  async start(parts: Part[]): Promise<void> {
    for (const p of parts) {
      this.running.push(p);
      try {
        await p.start();
      } catch (e) {
        await this.stop();
        throw e;
      }
    }
  }

  // Stops the running parts, last first, down to the part named `keep` (which stays running), or
  // all of them. A part that fails to stop is logged; the others still stop.
  async stop(keep?: string): Promise<void> {
    for (let p = this.running.at(-1); p && p.name !== keep; p = this.running.at(-1)) {
      this.running.pop();
      try {
        await p.stop?.();
      } catch (e) {
        this.log(`stopping ${p.name}: ${(e as Error).message}`);
      }
    }
  }
}
