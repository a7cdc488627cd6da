// `ipmasq events --search-log FILE --public-port P --at T`: the answer to an abuse report, "who
// had public port P at time T", from an event log (RFC 5424 lines of ours; other lines skipped).
// A flow matches if it used P and was open at T: from its NEW (or its DESTROY's time minus its
// life) to its DESTROY, or to the end of the log if it has none. Times in a log have
// milliseconds, a flow's life whole seconds: a second of slack each side.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { type EventJson, parseSyslogLine } from "./event-format";

export interface Holder {
  proto: string;
  lan: string;
  public: string;
  remote: string;
  from: string;
  until: string;
  why: string;
  events: EventJson[];
}

const SLACK_MS = 1000;

export async function searchLog(file: string, publicPort: number, at: number): Promise<Holder[]> {
  const open = new Map<string, EventJson>(); // NEW without its DESTROY yet
  const found: Holder[] = [];
  const key = (e: EventJson): string => `${e.proto} ${e.lan} ${e.public} ${e.remote}`;
  const portOf = (ep: string): number => Number(ep.split(/[:#]/)[1]);
  const holder = (e: EventJson, from: number, until: number | undefined, events: EventJson[]): Holder => ({
    proto: e.proto,
    lan: e.lan,
    public: e.public,
    remote: e.remote,
    from: new Date(from).toISOString(),
    until: until === undefined ? "" : new Date(until).toISOString(),
    why: e.why,
    events,
  });

  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    const e = parseSyslogLine(line);
    if (!e || portOf(e.public) !== publicPort) continue;
    const t = Date.parse(e.time);
    if (e.type === "NEW" || (e.type === "UPDATE" && !/delete|expired/.test(e.why))) {
      open.set(key(e), e);
      continue;
    }
    const started = open.get(key(e));
    open.delete(key(e));
    const from = started ? Date.parse(started.time) : t - e.seconds * 1000;
    if (from - SLACK_MS <= at && at <= t + SLACK_MS) found.push(holder(e, from, t, started ? [started, e] : [e]));
  }
  for (const e of open.values()) {
    const from = Date.parse(e.time);
    if (from - SLACK_MS <= at) found.push(holder(e, from, undefined, [e]));
  }
  return found;
}
