// Talks to a running gateway's control socket.
import { createConnection } from "node:net";

// There is no gateway to ask (no control socket, or nobody behind it).
export class NotRunning extends Error {}

export function request(path: string, req: object, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${path}`));
    }, timeoutMs);
    sock.on("connect", () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      const res = JSON.parse(buf.slice(0, nl)) as { ok?: unknown; error?: string };
      if (res.error) reject(new Error(res.error));
      else resolve(res.ok);
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED")
        reject(new NotRunning(`no gateway is running in this network namespace (no control socket ${path})`));
      else
        reject(
          new Error(e.code === "EACCES" ? `permission denied on ${path}: the control socket is root only` : e.message),
        );
    });
  });
}

// Sends `req` and hands every answer line to `onLine` until the gateway closes the socket (or
// the process is stopped): `ipmasq events`.
export function follow(path: string, req: object, onLine: (v: unknown) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = "";
    sock.on("connect", () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on("data", (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const res = JSON.parse(buf.slice(0, nl)) as { ok?: unknown; error?: string };
        buf = buf.slice(nl + 1);
        if (res.error) {
          sock.destroy();
          reject(new Error(res.error));
          return;
        }
        onLine(res.ok);
      }
    });
    sock.on("close", () => resolve());
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED")
        reject(new NotRunning(`no gateway is running in this network namespace (no control socket ${path})`));
      else
        reject(
          new Error(e.code === "EACCES" ? `permission denied on ${path}: the control socket is root only` : e.message),
        );
    });
  });
}
