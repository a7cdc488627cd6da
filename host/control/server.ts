// The control socket: a UNIX socket (mode 0600, so root only) speaking one JSON request per line.
// `ipmasq status` and `ipmasq conns` talk to the running gateway through it. It only carries
// requests: what each one does is host/control/dispatch.ts's.
import { createServer, type Server, type Socket } from "node:net";
import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { netnsId } from "../state/instance";
import { join, dirname } from "node:path";

export function controlSocketPath(stateDir: string, tun: string): string {
  return join(stateDir, `control-net${netnsId()}-${tun}.sock`);
}

// An answer, or a stream: `stream(send)` starts it and returns how to stop it; send() says false
// when the line was dropped because the reader is behind.
export interface Answer {
  ok?: unknown;
  error?: string;
  stream?: (send: (v: unknown) => boolean) => () => void;
}

const STREAM_BACKLOG = 256 * 1024; // bytes a slow reader may have waiting before lines are dropped
export type Handler = (req: { cmd?: string; args?: unknown }) => Answer;

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

  private serve(sock: Socket): void {
    let buf = "";
    sock.on("data", (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let answer: Answer;
        try {
          answer = this.handle(JSON.parse(line));
        } catch (e) {
          answer = { error: e instanceof SyntaxError ? "request is not JSON" : (e as Error).message };
        }
        if (answer.stream) {
          this.stream(sock, answer.stream);
          return;
        }
        sock.write(`${JSON.stringify(answer)}\n`);
      }
    });
    sock.on("error", () => sock.destroy());
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
