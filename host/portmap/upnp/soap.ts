// SOAP for UPnP control (UPnP Device Architecture 1.1, 3.2): the one action element of a request
// and its arguments, and the answers. Requests come from the LAN, which is not trusted either:
// the body is capped, and a DOCTYPE, an entity declaration, a processing instruction other than
// the XML declaration or a CDATA section is refused before anything else is read, so no entity is
// ever expanded. Only the five predefined entities and character references are decoded.
export const MAX_BODY = 16 * 1024;

export class SoapError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
  ) {
    super(`${code} ${description}`);
  }
}

// UPnP error codes (UDA 1.1 3.2.2; WANIPConnection:2 2.4).
export const UPNP = {
  INVALID_ACTION: [401, "Invalid Action"],
  INVALID_ARGS: [402, "Invalid Args"],
  ACTION_FAILED: [501, "Action Failed"],
  NOT_AUTHORIZED: [606, "Action not authorized"],
  INDEX_INVALID: [713, "SpecifiedArrayIndexInvalid"],
  NO_SUCH_ENTRY: [714, "NoSuchEntryInArray"],
  WILDCARD_EXT_PORT: [716, "WildCardNotPermittedInExtPort"],
  CONFLICT: [718, "ConflictInMappingEntry"],
  REMOTE_HOST_WILDCARD: [726, "RemoteHostOnlySupportsWildcard"],
  NO_PORT_MAPS: [728, "NoPortMapsAvailable"],
  CONFLICT_WITH_OTHER: [729, "ConflictWithOtherMechanisms"],
  NOT_FOUND_IN_RANGE: [730, "PortMappingNotFound"],
  OUT_OF_RANGE_INDEX: [713, "SpecifiedArrayIndexInvalid"],
} as const;
export const fault = (e: readonly [number, string]): SoapError => new SoapError(e[0], e[1]);

export interface SoapRequest {
  service: string;
  action: string;
  args: Map<string, string>;
}

const decode = (s: string): string =>
  s.replace(/&(lt|gt|amp|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g, (_, e: string) =>
    e === "lt"
      ? "<"
      : e === "gt"
        ? ">"
        : e === "amp"
          ? "&"
          : e === "quot"
            ? '"'
            : e === "apos"
              ? "'"
              : String.fromCodePoint(
                  Math.min(0x10ffff, e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)),
                ),
  );

export const escapeXml = (s: string): string =>
  s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);

// `soapAction` is the SOAPACTION header: "urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping".
export function parseRequest(body: string, soapAction: string | undefined): SoapRequest {
  if (body.length > MAX_BODY) throw fault(UPNP.INVALID_ARGS);
  if (/<!DOCTYPE|<!ENTITY|<!\[CDATA\[|<\?(?!xml[\s?])/i.test(body)) throw fault(UPNP.INVALID_ARGS);
  const header = /^"?([^"#]+)#([A-Za-z]+)"?$/.exec((soapAction ?? "").trim());
  if (!header) throw fault(UPNP.INVALID_ACTION);
  const [, service, action] = header;
  // <s:Body> … <u:ACTION xmlns:u="SERVICE"> args </u:ACTION> … </s:Body>
  const bodyEl = /<(?:[A-Za-z][\w.-]*:)?Body\b[^>]*>([\s\S]*)<\/(?:[A-Za-z][\w.-]*:)?Body\s*>/.exec(body);
  if (!bodyEl) throw fault(UPNP.INVALID_ACTION);
  const actionEl = new RegExp(`<((?:[A-Za-z][\\w.-]*:)?${action})\\b[^>]*?(?:/>|>([\\s\\S]*?)</\\1\\s*>)`).exec(
    bodyEl[1],
  );
  if (!actionEl) throw fault(UPNP.INVALID_ACTION);
  const args = new Map<string, string>();
  for (const m of (actionEl[2] ?? "").matchAll(/<([A-Za-z][\w.-]*)(?:\s[^>]*)?(?:\/>|>([^<]*)<\/\1\s*>)/g)) {
    if (args.size > 32) throw fault(UPNP.INVALID_ARGS);
    args.set(m[1], decode(m[2] ?? "").trim());
  }
  return { service, action, args };
}

const envelope = (inner: string): string =>
  `<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>${inner}</s:Body></s:Envelope>\r\n`;

export function response(service: string, action: string, out: Array<[string, string | number]>): string {
  return envelope(
    `<u:${action}Response xmlns:u="${service}">${out.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join("")}</u:${action}Response>`,
  );
}

export function faultBody(e: SoapError): string {
  return envelope(
    `<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${e.code}</errorCode><errorDescription>${escapeXml(e.description)}</errorDescription></UPnPError></detail></s:Fault>`,
  );
}
