// Which TUN queue (so which worker) a packet is read from. Left to the kernel, the queue follows
// the packet's own address-and-port hash, and a masqueraded flow has two: the LAN side's and the
// public side's. Its data then went to one worker and its replies (TCP's ACKs) to the other, and
// both woke up for every burst — with two workers TCP cost 12–34 % more CPU than with one
// (bench/results/workers.md). A small BPF program on each ingress device picks the queue from
// what both directions share: the remote address (the destination of a packet that comes in on
// the LAN side, the source of one from the WAN) and the two ports, which masquerading keeps when
// it can (a flow whose port had to change may still be split: that costs CPU, nothing else).
// Fragments (most carry no ports) and protocols without ports use the address alone.
import { randomInt } from "node:crypto";
import { libc, errnoName } from "./libc";

const TUNSETSTEERINGEBPF = 0x800454e0; // _IOR('T', 224, int)
const BPF_PROG_LOAD = 5;
const BPF_PROG_TYPE_SOCKET_FILTER = 1;
const ATTR_SIZE = 72; // union bpf_attr up to expected_attach_type, for BPF_PROG_LOAD

// eBPF instruction classes, sizes, modes and operations (linux/bpf_common.h, linux/bpf.h)
const LD = 0x00,
  ALU = 0x04,
  JMP = 0x05,
  ALU64 = 0x07;
const W = 0x00,
  H = 0x08,
  B = 0x10;
const ABS = 0x20,
  IND = 0x40;
const K = 0x00,
  X = 0x08;
const AND = 0x50,
  LSH = 0x60,
  RSH = 0x70,
  MUL = 0x20,
  XOR = 0xa0,
  MOV = 0xb0;
const JA = 0x00,
  JEQ = 0x10,
  JNE = 0x50,
  EXIT = 0x90;

interface Insn {
  code: number;
  dst?: number;
  src?: number;
  off?: number;
  imm?: number;
}

// Which end of the packet is the remote one: its destination (it came from the LAN, or from the
// gateway itself) or its source (it came from the WAN).
export type RemoteEnd = "destination" | "source";

// The program: a hash of the remote address and, for TCP and UDP, the two ports (XORed: the same
// whichever way the packet goes), mixed with a secret seed (so that nobody outside can aim flows
// at one queue); the kernel takes it modulo the queues.
export function steeringProgram(remote: RemoteEnd, seed: number): Insn[] {
  const addrAt = remote === "destination" ? 16 : 12; // offset in the IPv4 header
  return [
    /* 0 */ { code: ALU64 | MOV | X, dst: 6, src: 1 }, // r6 = skb (the packet loads read it)
    /* 1 */ { code: LD | H | ABS, imm: 6 }, // r0 = flags and fragment offset
    /* 2 */ { code: ALU | AND | K, dst: 0, imm: 0x3fff }, // more fragments, or an offset
    /* 3 */ { code: JMP | JNE | K, dst: 0, imm: 0, off: 12 }, // a fragment: -> 16
    /* 4 */ { code: LD | B | ABS, imm: 9 }, // r0 = protocol
    /* 5 */ { code: JMP | JEQ | K, dst: 0, imm: 6, off: 1 }, // TCP: -> 7
    /* 6 */ { code: JMP | JNE | K, dst: 0, imm: 17, off: 9 }, // not UDP: -> 16
    /* 7 */ { code: LD | B | ABS, imm: 0 }, // r0 = version and header length
    /* 8 */ { code: ALU | AND | K, dst: 0, imm: 0x0f },
    /* 9 */ { code: ALU | LSH | K, dst: 0, imm: 2 }, // header length in bytes
    /* 10 */ { code: ALU64 | MOV | X, dst: 7, src: 0 },
    /* 11 */ { code: LD | W | IND, src: 7, imm: 0 }, // r0 = source port << 16 | destination port
    /* 12 */ { code: ALU | MOV | X, dst: 8, src: 0 },
    /* 13 */ { code: ALU | RSH | K, dst: 0, imm: 16 },
    /* 14 */ { code: ALU | XOR | X, dst: 8, src: 0 }, // r8 = the ports XORed (the low half)
    /* 15 */ { code: JMP | JA, off: 1 }, // -> 17
    /* 16 */ { code: ALU64 | MOV | K, dst: 8, imm: 0 }, // no ports
    /* 17 */ { code: ALU | AND | K, dst: 8, imm: 0xffff },
    /* 18 */ { code: LD | W | ABS, imm: addrAt }, // r0 = the remote address
    /* 19 */ { code: ALU | XOR | X, dst: 0, src: 8 },
    /* 20 */ { code: ALU | XOR | K, dst: 0, imm: seed | 0 },
    /* 21 */ { code: ALU | MUL | K, dst: 0, imm: 0x9e3779b1 | 0 }, // Fibonacci hashing
    /* 22 */ { code: ALU | MOV | X, dst: 1, src: 0 },
    /* 23 */ { code: ALU | RSH | K, dst: 1, imm: 16 },
    /* 24 */ { code: ALU | XOR | X, dst: 0, src: 1 }, // the high bits into the low ones the kernel keeps
    /* 25 */ { code: JMP | EXIT },
  ];
}

function encode(prog: Insn[]): Buffer {
  const b = Buffer.alloc(prog.length * 8); // struct bpf_insn
  prog.forEach((i, n) => {
    b.writeUInt8(i.code, n * 8);
    b.writeUInt8(((i.src ?? 0) << 4) | (i.dst ?? 0), n * 8 + 1);
    b.writeInt16LE(i.off ?? 0, n * 8 + 2);
    b.writeInt32LE(i.imm ?? 0, n * 8 + 4);
  });
  return b;
}

const SEED = randomInt(2 ** 31); // one per process: both directions must hash alike

// Steers the device whose queues are `fds` by its packets' remote end. Returns why not, if it
// could not (no CAP_BPF or CAP_SYS_ADMIN, an old kernel): the kernel's own choice stays.
export function steerQueues(fds: number[], remote: RemoteEnd): string | undefined {
  const c = libc();
  const insns = encode(steeringProgram(remote, SEED));
  const license = Buffer.alloc(4); // alloc, not from(): never a slice of a shared pool, so address() is its own
  license.write("GPL", "ascii");
  const log = Buffer.alloc(4096);
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(BPF_PROG_TYPE_SOCKET_FILTER, 0);
  attr.writeUInt32LE(insns.length / 8, 4);
  attr.writeBigUInt64LE(c.address(insns), 8);
  attr.writeBigUInt64LE(c.address(license), 16);
  attr.writeUInt32LE(1, 24); // log level: the verifier says why, if it refuses
  attr.writeUInt32LE(log.length, 28);
  attr.writeBigUInt64LE(c.address(log), 32);
  attr.write("ipmasq_steer", 48, "ascii");
  const prog = c.bpf(BPF_PROG_LOAD, attr, ATTR_SIZE);
  if (prog < 0) {
    const e = c.errno();
    const said = log.toString("ascii").replace(/\0.*$/s, "").trim().split("\n").pop();
    return e === 1
      ? "loading it needs CAP_BPF or CAP_SYS_ADMIN (EPERM)"
      : `BPF_PROG_LOAD: ${errnoName(e)}${said ? ` (${said})` : ""}`;
  }
  try {
    const arg = Buffer.alloc(4);
    arg.writeInt32LE(prog, 0);
    // one queue's fd sets it for the whole device
    if (c.ioctlPtr(fds[0], TUNSETSTEERINGEBPF, arg) < 0) return `TUNSETSTEERINGEBPF: ${errnoName(c.errno())}`;
    return undefined;
  } finally {
    c.close(prog); // the device holds its own reference
  }
}
