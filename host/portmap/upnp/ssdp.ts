// SSDP (UDA 1.1, 1): the gateway's devices answer M-SEARCH and announce themselves (NOTIFY
// ssdp:alive at start and every half of max-age, ssdp:byebye at stop) on the LAN only: one
// socket per LAN interface, bound to the device (a datagram that came in on any other interface,
// the WAN's, never reaches it), joined to 239.255.255.250 there; a search from outside the
// masqueraded networks is not answered.
import { createSocket, type Socket, type RemoteInfo } from "node:dgram";
import { bindToDevice } from "../../net/bind-device";

export const SSDP_ADDR = "239.255.255.250";
export const SSDP_PORT = 1900;
const MAX_AGE = 1800;
const MAX_MSEARCH = 2048;

// One advertised target: what a search for `st` finds, and where its description is.
export interface Target {
  st: string;
  usn: string;
  location: (lanAddr: string) => string;
}

export interface SsdpLan {
  iface: string;
  addr: string;
}

export class SsdpResponder {
  private readonly socks: Array<{ sock: Socket; lan: SsdpLan }> = [];
  private timer?: NodeJS.Timeout;
  private readonly bootId = Math.floor(Date.now() / 1000);
  refused = 0;

  constructor(
    private readonly targets: Target[],
    private readonly fromLan: (addr: string) => boolean,
    private readonly server: string,
  ) {}

  async listen(lans: SsdpLan[]): Promise<void> {
    for (const lan of lans) {
      const sock = createSocket({ type: "udp4", reuseAddr: true });
      this.socks.push({ sock, lan });
      sock.on("message", (msg, r) => this.search(sock, lan, msg, r));
      sock.on("error", () => {
        /* a bad datagram never stops the responder */
      });
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(SSDP_PORT, "0.0.0.0", resolve);
      });
      bindToDevice(sock, lan.iface);
      sock.addMembership(SSDP_ADDR, lan.addr);
      sock.setMulticastInterface(lan.addr);
      sock.setMulticastTTL(2);
    }
    this.announce("ssdp:alive");
    this.timer = setInterval(() => this.announce("ssdp:alive"), (MAX_AGE / 2) * 1000);
  }

  close(): void {
    clearInterval(this.timer);
    this.announce("ssdp:byebye");
    for (const { sock } of this.socks) sock.close();
  }

  // What a datagram from `from` asks: the targets to answer and how long the answer may wait
  // (UDA: a random delay up to MX seconds; at most 1 s here, so clients see us quickly), or
  // undefined for anything that is not a search from the LAN for one of ours.
  searchOf(msg: Buffer, from: string): { found: Target[]; mx: number } | undefined {
    if (msg.length > MAX_MSEARCH) return undefined;
    const text = msg.toString("latin1");
    if (!/^M-SEARCH \* HTTP\/1\.1\r?\n/i.test(text)) return undefined;
    if (!this.fromLan(from)) {
      this.refused++;
      return undefined;
    }
    const header = (name: string): string | undefined => new RegExp(`^${name}:[ \\t]*(.*?)\\r?$`, "im").exec(text)?.[1];
    if (header("MAN")?.replace(/"/g, "") !== "ssdp:discover") return undefined;
    const st = header("ST") ?? "";
    const found = st === "ssdp:all" ? this.targets : this.targets.filter((t) => t.st === st);
    if (found.length === 0) return undefined;
    return { found, mx: Math.min(1, Math.max(0, Number(header("MX") ?? 1) || 0)) };
  }

  private search(sock: Socket, lan: SsdpLan, msg: Buffer, r: RemoteInfo): void {
    const asked = this.searchOf(msg, r.address);
    if (!asked) return;
    const { found, mx } = asked;
    setTimeout(
      () => {
        for (const t of found) {
          const reply = [
            "HTTP/1.1 200 OK",
            `CACHE-CONTROL: max-age=${MAX_AGE}`,
            `DATE: ${new Date().toUTCString()}`,
            "EXT:",
            `LOCATION: ${t.location(lan.addr)}`,
            `SERVER: ${this.server}`,
            `ST: ${t.st}`,
            `USN: ${t.usn}`,
            `BOOTID.UPNP.ORG: ${this.bootId}`,
            "CONFIGID.UPNP.ORG: 1",
            "",
            "",
          ].join("\r\n");
          sock.send(reply, r.port, r.address);
        }
      },
      Math.random() * mx * 1000,
    );
  }

  private announce(nts: "ssdp:alive" | "ssdp:byebye"): void {
    for (const { sock, lan } of this.socks) {
      for (const t of this.targets) {
        if (t.st === "ssdp:all") continue;
        const lines = [
          "NOTIFY * HTTP/1.1",
          `HOST: ${SSDP_ADDR}:${SSDP_PORT}`,
          `NT: ${t.st}`,
          `NTS: ${nts}`,
          `USN: ${t.usn}`,
          `BOOTID.UPNP.ORG: ${this.bootId}`,
          "CONFIGID.UPNP.ORG: 1",
        ];
        if (nts === "ssdp:alive")
          lines.push(
            `CACHE-CONTROL: max-age=${MAX_AGE}`,
            `LOCATION: ${t.location(lan.addr)}`,
            `SERVER: ${this.server}`,
          );
        try {
          sock.send([...lines, "", ""].join("\r\n"), SSDP_PORT, SSDP_ADDR);
        } catch {
          /* closing */
        }
      }
    }
  }
}
