// The control socket: a UNIX socket (mode 0600, so root only) speaking one JSON request per line.
// `ipmasq status` and `ipmasq conns` talk to the running gateway through it. It only carries
// requests: what each one does is host/control/dispatch.ts's.
import { createServer, type Server, type Socket } from "node:net";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { netnsId } from "../state/instance";
import { join, dirname } from "node:path";

export function controlSocketPath(stateDir: string, tun: string): string {
  return join(stateDir, `control-net${netnsId()}-${tun}.sock`);
}

// An answer, or a stream: `stream(send)` starts it and returns how to stop it; send() says false
// when the line was dropped because the reader is behind. `rows`: a long answer (every
// connection), a line each, written as the reader takes them (nothing is dropped, and the gateway
// holds one row at a time, not the whole answer), then the socket is closed.
export interface Answer {
  ok?: unknown;
  error?: string;
  stream?: (send: (v: unknown) => boolean) => () => void;
  rows?: Iterable<unknown>;
}

const STREAM_BACKLOG = 256 * 1024; // bytes a slow reader may have waiting before lines are dropped
export const MAX_REQUEST = 1 << 20; // a request line: far more than any command needs
export type Handler = (req: { cmd?: string; args?: unknown }) => Answer;

// One request line's answer: a JSON object goes to the handler; anything else, or a handler that
// throws, gets an error, never an exception.
export function answerLine(line: string, handle: Handler): Answer {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return { error: "request is not JSON" };
  }
  if (typeof req !== "object" || req === null || Array.isArray(req))
    return { error: 'a request is a JSON object, {"cmd": ...}' };
  try {
    return handle(req as { cmd?: string; args?: unknown });
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export class ControlServer {
  private server?: Server;
  private readonly streams = new Set<Socket>();
  constructor(
    private readonly path: string,
    private readonly handle: Handler,
  ) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    if (existsSync(this.path)) unlinkSync(this.path); // left by a killed run (the TUN name was free)
    this.server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.path, resolve);
    });
    chmodSync(this.path, 0o600);
  }

  // Lines in, one answer line each. A line longer than MAX_REQUEST ends the connection (what a
  // client sends is never held beyond that); characters split between reads stay whole.
  private serve(sock: Socket): void {
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const answer = answerLine(line, this.handle);
        if (answer.rows) {
          sock.removeAllListeners("data");
          void this.rows(sock, answer.rows);
          return;
        }
        if (answer.stream) {
          this.stream(sock, answer.stream);
          return;
        }
        sock.write(`${JSON.stringify(answer)}\n`);
      }
      if (buf.length > MAX_REQUEST) {
        buf = "";
        sock.end(`${JSON.stringify({ error: `a request line is at most ${MAX_REQUEST} characters` })}\n`);
        sock.removeAllListeners("data");
      }
    });
    sock.on("error", () => sock.destroy());
  }

  private async rows(sock: Socket, rows: Iterable<unknown>): Promise<void> {
    try {
      for (const r of rows) {
        if (sock.destroyed) return;
        if (!sock.write(`${JSON.stringify({ ok: r })}\n`)) await once(sock, "drain");
      }
      sock.end();
    } catch {
      sock.destroy();
    }
  }

  // Lines until the reader goes; a reader that falls behind loses lines and is told how many.
  private stream(sock: Socket, start: NonNullable<Answer["stream"]>): void {
    sock.removeAllListeners("data");
    let dropped = 0;
    const owned = (): void => {
      if (dropped) {
        sock.write(`${JSON.stringify({ ok: { dropped } })}\n`);
        dropped = 0;
      }
    };
    const stop = start((v) => {
      if (sock.writableLength > STREAM_BACKLOG) {
        dropped++;
        return false;
      }
      owned();
      sock.write(`${JSON.stringify({ ok: v })}\n`);
      return true;
    });
    sock.on("drain", owned); // told as soon as it caught up, not only with the next event
    this.streams.add(sock);
    sock.on("close", () => {
      stop();
      this.streams.delete(sock);
    });
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.end();
    if (!this.server) return;
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      /* gone */
    }
  }
}
