// What the slow path tells the worker loop to do with a packet.
export const A_FORWARD = 0; // translated (or routed): write it
export const A_DROP = 1;
export const A_PASS = 2; // not ours to translate: hand back to the kernel unchanged (TTL restored)
export const A_REPLY = 3; // the slot now holds an ICMP error to send instead
export const A_HELD = 4; // a fragment kept for reassembly: nothing to write yet
