// `--log-events FILE|syslog[:SOCKET]`: every connection event as an RFC 5424 line, appended to a
// file or sent to the local syslog socket (/dev/log unless named), at most `rate` lines a
// second (a token bucket; the lines over it are counted, not queued).
//
// The file is opened without following a link, must be a regular file with one link, and, if it
// exists, be ours: root appending to a file another user prepared is how logs overwrite /etc.
import { openSync, writeSync, closeSync, fstatSync, constants } from "node:fs";
import { hostname } from "node:os";
import { type EventJson, eventSyslog } from "./event-format";
import { libc, AF_UNIX, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_CLOEXEC, errnoName } from "../tun/libc";

export const DEFAULT_LOG_RATE = 1000;

export class EventLog {
  written = 0;
  dropped = 0;
  private tokens: number;
  private filled = Date.now();
  private pending: string[] = [];
  private readonly host = hostname();

  private constructor(
    private readonly target: { fd: number; datagram: boolean; what: string },
    private readonly rate: number,
  ) {
    this.tokens = rate;
  }

  static open(spec: string, rate = DEFAULT_LOG_RATE): EventLog {
    if (spec === "syslog" || spec.startsWith("syslog:"))
      return new EventLog(openSyslog(spec.slice(7) || "/dev/log"), rate);
    return new EventLog(openLogFile(spec), rate);
  }

  get what(): string {
    return this.target.what;
  }

  // Takes the line if the rate allows; written at the next flush.
  add(e: EventJson): void {
    const now = Date.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.filled) / 1000) * this.rate);
    this.filled = now;
    if (this.tokens < 1) {
      this.dropped++;
      return;
    }
    this.tokens -= 1;
    this.pending.push(eventSyslog(e, this.host, process.pid));
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    if (!this.target.datagram) {
      try {
        writeSync(this.target.fd, `${lines.join("\n")}\n`);
        this.written += lines.length;
      } catch {
        this.dropped += lines.length;
      }
      return;
    }
    const c = libc();
    for (const l of lines) {
      const b = Buffer.from(l);
      if (c.send(this.target.fd, b, b.length, 0) === b.length) this.written++;
      else this.dropped++;
    }
  }

  close(): void {
    this.flush();
    if (this.target.datagram) libc().close(this.target.fd);
    else closeSync(this.target.fd);
  }
}

function openLogFile(path: string): { fd: number; datagram: boolean; what: string } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      `--log-events ${path}: ${code === "ELOOP" ? "is a symbolic link (refused)" : code === "ENOENT" ? "its directory does not exist" : (e as Error).message}`,
    );
  }
  const st = fstatSync(fd);
  const problem = !st.isFile()
    ? "is not a regular file"
    : st.nlink !== 1
      ? "has other hard links (refused)"
      : st.uid !== process.getuid!()
        ? `belongs to uid ${st.uid}, not to us (refused)`
        : undefined;
  if (problem) {
    closeSync(fd);
    throw new Error(`--log-events ${path}: ${problem}`);
  }
  return { fd, datagram: false, what: path };
}

// A UNIX datagram socket connected to syslog's: one datagram per line, never blocking.
function openSyslog(path: string): { fd: number; datagram: boolean; what: string } {
  const c = libc();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`--log-events syslog: socket: ${errnoName(c.errno())}`);
  const addr = Buffer.alloc(110); // struct sockaddr_un
  addr.writeUInt16LE(AF_UNIX, 0);
  if (Buffer.byteLength(path) > 107) {
    c.close(fd);
    throw new Error(`--log-events syslog:${path}: path too long`);
  }
  addr.write(path, 2);
  if (c.connect(fd, addr, addr.length) !== 0) {
    const err = errnoName(c.errno());
    c.close(fd);
    throw new Error(`--log-events syslog: cannot reach ${path} (${err}): is a syslog daemon running?`);
  }
  return { fd, datagram: true, what: `syslog ${path}` };
}
