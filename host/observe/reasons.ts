// Names of the drop reasons (assembly/layout.ts R_*), for status output and metrics.
export const REASON_NAMES: string[] = [
  "none", "truncated", "bad_version", "bad_ihl", "bad_total_length", "bad_ip_checksum", "bad_fragment",
  "ttl_expired", "bad_l4_header", "bad_icmp", "bad_vnet_hdr", "no_mapping", "policy", "table_full",
  "fragment", "unsupported", "alg", "spoofed", "martian", "no_wan", "host_limit",
];
