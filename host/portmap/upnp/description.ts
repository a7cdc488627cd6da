// The device description (UDA 1.1, 2.3) and the service descriptions (SCPD, 2.5) of ipmasq's
// InternetGatewayDevice, version 1 or 2. The SCPDs are made from the action table
// (host/portmap/upnp/igd-actions.ts), so a description cannot list what the control URL does not do.
import { type Action, IP_CONNECTION, COMMON_IF_CONFIG } from "./igd-actions";

export const PATHS = {
  root: (v: number): string => `/rootDesc${v}.xml`,
  ipScpd: (v: number): string => `/WANIPCn${v}.xml`,
  ipControl: (v: number): string => `/ctl/IPConn${v}`,
  ipEvents: (v: number): string => `/evt/IPConn${v}`,
  cfgScpd: "/WANCfg.xml",
  cfgControl: "/ctl/CmnIfCfg",
  cfgEvents: "/evt/CmnIfCfg",
};
export const IGD = (v: number): string => `urn:schemas-upnp-org:device:InternetGatewayDevice:${v}`;
export const WAN_IP_CONNECTION = (v: number): string => `urn:schemas-upnp-org:service:WANIPConnection:${v}`;
export const COMMON_IF = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1";

// Each argument's related state variable, and each variable's type and whether it is evented.
const RELATED: Record<string, string> = {
  NewConnectionType: "ConnectionType",
  NewPossibleConnectionTypes: "PossibleConnectionTypes",
  NewConnectionStatus: "ConnectionStatus",
  NewLastConnectionError: "LastConnectionError",
  NewUptime: "Uptime",
  NewRSIPAvailable: "RSIPAvailable",
  NewNATEnabled: "NATEnabled",
  NewExternalIPAddress: "ExternalIPAddress",
  NewRemoteHost: "RemoteHost",
  NewExternalPort: "ExternalPort",
  NewReservedPort: "ExternalPort",
  NewStartPort: "ExternalPort",
  NewEndPort: "ExternalPort",
  NewProtocol: "PortMappingProtocol",
  NewInternalPort: "InternalPort",
  NewInternalClient: "InternalClient",
  NewEnabled: "PortMappingEnabled",
  NewPortMappingDescription: "PortMappingDescription",
  NewLeaseDuration: "PortMappingLeaseDuration",
  NewManage: "A_ARG_TYPE_Manage",
  NewNumberOfPorts: "PortMappingNumberOfEntries",
  NewPortListing: "A_ARG_TYPE_PortListing",
  NewPortMappingIndex: "PortMappingNumberOfEntries",
  NewWANAccessType: "WANAccessType",
  NewLayer1UpstreamMaxBitRate: "Layer1UpstreamMaxBitRate",
  NewLayer1DownstreamMaxBitRate: "Layer1DownstreamMaxBitRate",
  NewPhysicalLinkStatus: "PhysicalLinkStatus",
  NewTotalBytesSent: "TotalBytesSent",
  NewTotalBytesReceived: "TotalBytesReceived",
  NewTotalPacketsSent: "TotalPacketsSent",
  NewTotalPacketsReceived: "TotalPacketsReceived",
};
const VARIABLES: Record<string, [string, boolean]> = {
  ConnectionType: ["string", false],
  PossibleConnectionTypes: ["string", true],
  ConnectionStatus: ["string", true],
  Uptime: ["ui4", false],
  LastConnectionError: ["string", false],
  RSIPAvailable: ["boolean", false],
  NATEnabled: ["boolean", false],
  ExternalIPAddress: ["string", true],
  PortMappingNumberOfEntries: ["ui2", true],
  PortMappingEnabled: ["boolean", false],
  PortMappingLeaseDuration: ["ui4", false],
  RemoteHost: ["string", false],
  ExternalPort: ["ui2", false],
  InternalPort: ["ui2", false],
  PortMappingProtocol: ["string", false],
  InternalClient: ["string", false],
  PortMappingDescription: ["string", false],
  A_ARG_TYPE_Manage: ["boolean", false],
  A_ARG_TYPE_PortListing: ["string", false],
  WANAccessType: ["string", false],
  Layer1UpstreamMaxBitRate: ["ui4", false],
  Layer1DownstreamMaxBitRate: ["ui4", false],
  PhysicalLinkStatus: ["string", true],
  TotalBytesSent: ["ui4", false],
  TotalBytesReceived: ["ui4", false],
  TotalPacketsSent: ["ui4", false],
  TotalPacketsReceived: ["ui4", false],
};

export function scpd(actions: Record<string, Action>, version: number): string {
  const used = new Set<string>();
  const list = Object.entries(actions)
    .filter(([, a]) => !a.v2 || version >= 2)
    .map(([name, a]) => {
      const args = [...a.in.map((n) => [n, "in"]), ...a.out.map((n) => [n, "out"])].map(([n, dir]) => {
        used.add(RELATED[n]);
        return `<argument><name>${n}</name><direction>${dir}</direction><relatedStateVariable>${RELATED[n]}</relatedStateVariable></argument>`;
      });
      return `<action><name>${name}</name><argumentList>${args.join("")}</argumentList></action>`;
    });
  if (actions === IP_CONNECTION) used.add("PortMappingNumberOfEntries");
  const vars = [...used].map(
    (v) =>
      `<stateVariable sendEvents="${VARIABLES[v][1] ? "yes" : "no"}"><name>${v}</name><dataType>${VARIABLES[v][0]}</dataType>${v === "PortMappingProtocol" ? "<allowedValueList><allowedValue>TCP</allowedValue><allowedValue>UDP</allowedValue></allowedValueList>" : ""}</stateVariable>`,
  );
  return `<?xml version="1.0"?>\r\n<scpd xmlns="urn:schemas-upnp-org:service-1-0"><specVersion><major>1</major><minor>0</minor></specVersion><actionList>${list.join("")}</actionList><serviceStateTable>${vars.join("")}</serviceStateTable></scpd>\r\n`;
}

export const ipConnectionScpd = (v: number): string => scpd(IP_CONNECTION, v);
export const commonIfScpd = (): string => scpd(COMMON_IF_CONFIG, 1);

export function rootDescription(v: number, uuid: string, presentation: string): string {
  const device = (type: string, udn: string, services: string, children = ""): string =>
    `<device><deviceType>${type}</deviceType><friendlyName>ipmasq</friendlyName><manufacturer>ipmasq</manufacturer><manufacturerURL>https://www.ietf.org/rfc/rfc4787.txt</manufacturerURL><modelDescription>IP masquerade gateway</modelDescription><modelName>ipmasq</modelName><modelNumber>1</modelNumber><UDN>uuid:${udn}</UDN><serviceList>${services}</serviceList>${children ? `<deviceList>${children}</deviceList>` : ""}${type === IGD(v) ? `<presentationURL>${presentation}</presentationURL>` : ""}</device>`;
  const service = (type: string, id: string, scpdUrl: string, control: string, events: string): string =>
    `<service><serviceType>${type}</serviceType><serviceId>urn:upnp-org:serviceId:${id}</serviceId><SCPDURL>${scpdUrl}</SCPDURL><controlURL>${control}</controlURL><eventSubURL>${events}</eventSubURL></service>`;
  const conn = device(
    `urn:schemas-upnp-org:device:WANConnectionDevice:${v}`,
    `${uuid.slice(0, -1)}3`,
    service(WAN_IP_CONNECTION(v), "WANIPConn1", PATHS.ipScpd(v), PATHS.ipControl(v), PATHS.ipEvents(v)),
  );
  const wan = device(
    `urn:schemas-upnp-org:device:WANDevice:${v}`,
    `${uuid.slice(0, -1)}2`,
    service(COMMON_IF, "WANCommonIFC1", PATHS.cfgScpd, PATHS.cfgControl, PATHS.cfgEvents),
    conn,
  );
  return `<?xml version="1.0"?>\r\n<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>${v === 2 ? 1 : 0}</minor></specVersion>${device(IGD(v), uuid, "", wan)}</root>\r\n`;
}
