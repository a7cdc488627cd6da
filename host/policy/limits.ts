// The rule language's limits.
export const MAX_COUNTERS = 1024; // rules, user-chain policies included: each has a packet and a byte counter in the shared memory
