// What `ipmasq run` was asked to do (host/cli/cli.ts checks and fills it in).
import type { CoreKind } from "../core/core";
import type { Filtering } from "../worker/slow-path";
import type { SpoofCheck } from "../worker/reverse-path";
import type { Npt6 } from "../net/npt6";

export interface RunOptions {
  config: string;
  core: CoreKind;
  workers: number;
  maxConns: number;
  wan?: string; // pinned WAN interface (else the default route's)
  lan?: string; // pinned LAN interface (else those holding a MASQ -s network)
  tun: string; // base TUN device name
  table: number; // base routing table
  stateDir: string;
  portMin: number;
  portMax: number;
  mssClamp: number;
  workerFile: string; // the module that exports runWorker (the bundle itself when bundled)
  argv: string[]; // the command line, to start the next process on a graceful restart
  handover?: string; // snapshot left by the process that handed over to this one
  metrics?: string; // host:port of the Prometheus endpoint (off when absent)
  filtering: Filtering;
  npt6: Npt6[]; // --npt6: IPv6 prefix translations (RFC 6296)
  ftpHelper: boolean;
  pcp: boolean; // NAT-PMP and PCP server on the LAN interfaces
  upnp: boolean; // UPnP IGD (SSDP, SOAP, GENA) on the LAN interfaces
  groHoldUs?: number; // receive offload on the LAN and WAN interfaces, with this hold (off when absent)
  groBusyPps: number; // an interface holds bursts while it receives this many packets a second (0: always)
  spoofCheck: SpoofCheck;
  busyPollUs: number; // workers keep polling this long after traffic before they sleep
  pin: boolean; // worker N on CPU N (modulo the CPUs) only
  maxConnsPerHost: number; // 0: no limit
  logEvents?: string; // FILE, syslog or syslog:SOCKET
  logEventsRate: number; // lines a second
  web?: string; // [ADDR:]PORT of the status page (off when absent)
  webToken?: string; // file holding the page's token
  publicAddr?: number; // --public: masquerade as this address while it is on the WAN interface
  publicAddr6?: string; // --public6: NAT66's, the same way (RFC 5952 text)
  sync?: { peer: number; port: number; keyFile: string; dev?: string }; // HA pair: the table sync
}
