// The design's own limit, as a reference row for bench:cost: a minimal masquerading forwarder in C
// on exactly ipmasq's TUN setup (multi-queue, IFF_VNET_HDR, the same offloads; bench/reference/
// run.ts makes the devices and the wiring with ipmasq's own code). One thread per queue, like
// ipmasq's workers: poll the ingress devices' queue -> read a batch -> look the flow up (made on
// the first LAN packet, port kept) -> rewrite address and port with the incremental checksum
// update -> write each packet to the base device. No timeouts, no policy, no slow path: only the
// per-packet work every NAT does, so it shows what the design (two copies, a second forwarding
// pass) costs with no Node and no WASM in the way. IPv6 is routed as ipmasq routes it: a flow
// (both 128-bit ends and ports) made on the first LAN packet, looked up for every packet both
// ways, the hop limit given back; no extension headers.
//
//   forwarder PUBLIC_ADDR QUEUES BASE_TUN LAN_TUN WAN_TUN
// On SIGUSR1 it prints "packets N bytes N reads N" (so far: super-packets forwarded, IP bytes
// read, TUN reads), on SIGTERM the same, and exits.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VNET_HDR_LEN 10
#define VNET_F_NEEDS_CSUM 1
#define BATCH 64
#define SLOT (VNET_HDR_LEN + 65536)
#define SLOTS (1 << 17) // flow table: open addressing, a power of two
#define MAX_QUEUES 16

struct flow { uint32_t lan, remote, pub; uint16_t lan_port, remote_port, pub_port; uint8_t proto; };

static struct flow flows[SLOTS / 2];
struct flow6 { uint8_t lan[16], remote[16]; uint16_t lan_port, remote_port; uint8_t proto; };
static struct flow6 flows6[SLOTS / 2];
static _Atomic uint32_t index6[SLOTS];
static uint32_t flow6_count;
static _Atomic uint32_t lan_index[SLOTS], wan_index[SLOTS]; // entry + 1, 0: empty
static uint32_t flow_count;
static pthread_mutex_t insert_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t total_packets, total_bytes, total_reads;
static volatile sig_atomic_t stopping, report;
static uint32_t public_addr; // network order

static uint32_t hash5(uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e) {
  uint32_t h = 2166136261u;
  uint32_t v[5] = {a, b, c, d, e};
  for (int i = 0; i < 5; i++) { h ^= v[i]; h *= 16777619u; h ^= h >> 15; }
  return h;
}

// Incremental checksum update for a 16-bit field that changed from `old` to `new` (RFC 1624).
// A partial checksum (the kernel completes it: NEEDS_CSUM) is a plain one's-complement sum, not
// its complement, so it moves the other way.
static uint16_t csum_update(uint16_t check, uint16_t old, uint16_t new, int partial) {
  uint32_t sum = partial ? (uint32_t)check + (uint16_t)~old + new : (uint32_t)(uint16_t)~check + (uint16_t)~old + new;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return partial ? (uint16_t)sum : (uint16_t)~sum;
}

static uint16_t csum_update32(uint16_t check, uint32_t old, uint32_t new, int partial) {
  check = csum_update(check, old >> 16, new >> 16, partial);
  return csum_update(check, old & 0xffff, new & 0xffff, partial);
}

static int find(_Atomic uint32_t *index, uint32_t h, int (*match)(const struct flow *, const uint32_t *), const uint32_t *key) {
  for (uint32_t s = h & (SLOTS - 1);; s = (s + 1) & (SLOTS - 1)) {
    uint32_t e = atomic_load_explicit(&index[s], memory_order_acquire);
    if (e == 0) return -1;
    if (match(&flows[e - 1], key)) return (int)(e - 1);
  }
}

static void publish(_Atomic uint32_t *index, uint32_t h, uint32_t e) {
  uint32_t s = h & (SLOTS - 1);
  while (atomic_load_explicit(&index[s], memory_order_relaxed) != 0) s = (s + 1) & (SLOTS - 1);
  atomic_store_explicit(&index[s], e + 1, memory_order_release);
}

// key: proto, lan, lan_port, remote, remote_port / proto, remote, remote_port, pub_port
static int lan_match(const struct flow *f, const uint32_t *k) {
  return f->proto == k[0] && f->lan == k[1] && f->lan_port == k[2] && f->remote == k[3] && f->remote_port == k[4];
}
static int wan_match(const struct flow *f, const uint32_t *k) {
  return f->proto == k[0] && f->remote == k[1] && f->remote_port == k[2] && f->pub_port == k[3];
}

// The flow of a LAN packet, made on its first packet with the LAN port kept as public port.
static struct flow *outbound(uint8_t proto, uint32_t lan, uint16_t lan_port, uint32_t remote, uint16_t remote_port) {
  uint32_t key[5] = {proto, lan, lan_port, remote, remote_port};
  uint32_t h = hash5(proto, lan, lan_port, remote, remote_port);
  int e = find(lan_index, h, lan_match, key);
  if (e >= 0) return &flows[e];
  pthread_mutex_lock(&insert_lock);
  e = find(lan_index, h, lan_match, key);
  if (e < 0 && flow_count < SLOTS / 2) {
    e = (int)flow_count++;
    flows[e] = (struct flow){lan, remote, public_addr, lan_port, remote_port, lan_port, proto};
    publish(wan_index, hash5(proto, remote, remote_port, lan_port, 0), (uint32_t)e);
    publish(lan_index, h, (uint32_t)e);
  }
  pthread_mutex_unlock(&insert_lock);
  return e >= 0 ? &flows[e] : NULL;
}

static struct flow *inbound(uint8_t proto, uint32_t remote, uint16_t remote_port, uint16_t pub_port) {
  uint32_t key[4] = {proto, remote, remote_port, pub_port};
  int e = find(wan_index, hash5(proto, remote, remote_port, pub_port, 0), wan_match, key);
  return e >= 0 ? &flows[e] : NULL;
}

// ICMP echo (ping, for the latency benchmark): the identifier is the flow's port and is kept, so
// only the address changes, and the ICMP checksum (no pseudo-header) with it not at all.
static int translate_echo(uint8_t *ip, uint8_t *l4, int from_wan) {
  uint32_t src, dst;
  uint16_t id, ipcheck;
  memcpy(&src, ip + 12, 4); memcpy(&dst, ip + 16, 4); memcpy(&id, l4 + 4, 2); memcpy(&ipcheck, ip + 10, 2);
  uint32_t old_addr, new_addr;
  uint8_t *addr_at;
  if (!from_wan) {
    if (l4[0] != 8) return -1;
    struct flow *f = outbound(1, src, id, dst, 0);
    if (!f) return -1;
    old_addr = src; new_addr = f->pub; addr_at = ip + 12;
  } else {
    if (l4[0] != 0 || dst != public_addr) return -1;
    struct flow *f = inbound(1, src, 0, id);
    if (!f) return -1;
    old_addr = dst; new_addr = f->lan; addr_at = ip + 16;
  }
  ipcheck = htons(csum_update32(ntohs(ipcheck), ntohl(old_addr), ntohl(new_addr), 0));
  memcpy(addr_at, &new_addr, 4); memcpy(ip + 10, &ipcheck, 2);
  return 0;
}

static int route6(uint8_t *ip, size_t len, int from_wan);

// Rewrites one packet in place; returns 0 to forward it, -1 to drop it.
static int translate(uint8_t *p, size_t len, int from_wan) {
  if (len < VNET_HDR_LEN + 20) return -1;
  int partial = p[0] & VNET_F_NEEDS_CSUM;
  uint8_t *ip = p + VNET_HDR_LEN;
  if ((ip[0] >> 4) == 6) return route6(ip, len - VNET_HDR_LEN, from_wan);
  if ((ip[0] >> 4) != 4) return -1;
  size_t ihl = (size_t)(ip[0] & 15) * 4;
  uint8_t proto = ip[9];
  if ((proto != 6 && proto != 17 && proto != 1) || len < VNET_HDR_LEN + ihl + 8) return -1;
  if ((ip[6] & 0x1f) || ip[7]) return -1; // fragments: not this forwarder's job
  uint8_t *l4 = ip + ihl;
  if (proto == 1) return translate_echo(ip, l4, from_wan);
  size_t check_at = proto == 6 ? 16 : 6;
  if (proto == 6 && len < VNET_HDR_LEN + ihl + 20) return -1;
  uint32_t src, dst;
  uint16_t sport, dport, check, ipcheck;
  memcpy(&src, ip + 12, 4); memcpy(&dst, ip + 16, 4);
  memcpy(&sport, l4, 2); memcpy(&dport, l4 + 2, 2);
  memcpy(&check, l4 + check_at, 2); memcpy(&ipcheck, ip + 10, 2);
  int l4sum = !(proto == 17 && check == 0 && !partial); // UDP without a checksum keeps none
  uint32_t old_addr, new_addr;
  uint16_t old_port, new_port;
  uint8_t *addr_at, *port_at;
  if (!from_wan) {
    struct flow *f = outbound(proto, src, sport, dst, dport);
    if (!f) return -1;
    old_addr = src; new_addr = f->pub; old_port = sport; new_port = f->pub_port; addr_at = ip + 12; port_at = l4;
  } else {
    if (dst != public_addr) return -1;
    struct flow *f = inbound(proto, src, sport, dport);
    if (!f) return -1;
    old_addr = dst; new_addr = f->lan; old_port = dport; new_port = f->lan_port; addr_at = ip + 16; port_at = l4 + 2;
  }
  // the addresses are in network order in memory: the checksum arithmetic works on the 16-bit
  // words as they sit there, so both sides are taken in that same order
  uint16_t ipc = ntohs(ipcheck);
  ipc = csum_update32(ipc, ntohl(old_addr), ntohl(new_addr), 0);
  ipcheck = htons(ipc);
  if (l4sum) {
    uint16_t c = ntohs(check);
    c = csum_update32(c, ntohl(old_addr), ntohl(new_addr), partial);
    c = csum_update(c, ntohs(old_port), ntohs(new_port), partial);
    if (proto == 17 && c == 0 && !partial) c = 0xffff;
    check = htons(c);
  }
  memcpy(addr_at, &new_addr, 4); memcpy(port_at, &new_port, 2);
  memcpy(ip + 10, &ipcheck, 2); memcpy(l4 + check_at, &check, 2);
  return 0;
}

static uint32_t hash6(uint8_t proto, const uint8_t *lan, uint16_t lan_port, const uint8_t *remote, uint16_t remote_port) {
  uint32_t w[8];
  memcpy(w, lan, 16); memcpy(w + 4, remote, 16);
  uint32_t h = 2166136261u ^ proto;
  for (int i = 0; i < 8; i++) { h ^= w[i]; h *= 16777619u; h ^= h >> 15; }
  h ^= ((uint32_t)lan_port << 16) | remote_port; h *= 16777619u; h ^= h >> 15;
  return h;
}

static int find6(uint32_t h, uint8_t proto, const uint8_t *lan, uint16_t lan_port, const uint8_t *remote, uint16_t remote_port) {
  for (uint32_t s = h & (SLOTS - 1);; s = (s + 1) & (SLOTS - 1)) {
    uint32_t e = atomic_load_explicit(&index6[s], memory_order_acquire);
    if (e == 0) return -1;
    const struct flow6 *f = &flows6[e - 1];
    if (f->proto == proto && f->lan_port == lan_port && f->remote_port == remote_port && !memcmp(f->lan, lan, 16) && !memcmp(f->remote, remote, 16))
      return (int)(e - 1);
  }
}

// One IPv6 packet: forwarded (0) if its flow is known, or made from the LAN side; -1 to drop.
static int route6(uint8_t *ip, size_t len, int from_wan) {
  if (len < 40 + 8) return -1;
  uint8_t proto = ip[6];
  if (proto != 6 && proto != 17 && proto != 58) return -1; // extension headers: not this forwarder's job
  uint8_t *l4 = ip + 40;
  uint16_t sport, dport;
  if (proto == 58) {
    if (l4[0] != 128 && l4[0] != 129) return -1;
    uint16_t id; memcpy(&id, l4 + 4, 2);
    sport = l4[0] == 128 ? id : 0; dport = l4[0] == 128 ? 0 : id;
  } else { memcpy(&sport, l4, 2); memcpy(&dport, l4 + 2, 2); }
  const uint8_t *src = ip + 8, *dst = ip + 24;
  const uint8_t *lan = from_wan ? dst : src, *remote = from_wan ? src : dst;
  uint16_t lan_port = from_wan ? dport : sport, remote_port = from_wan ? sport : dport;
  uint32_t h = hash6(proto, lan, lan_port, remote, remote_port);
  int e = find6(h, proto, lan, lan_port, remote, remote_port);
  if (e < 0) {
    if (from_wan) return -1;
    pthread_mutex_lock(&insert_lock);
    e = find6(h, proto, lan, lan_port, remote, remote_port);
    if (e < 0 && flow6_count < SLOTS / 2) {
      e = (int)flow6_count++;
      struct flow6 *f = &flows6[e];
      memcpy(f->lan, lan, 16); memcpy(f->remote, remote, 16);
      f->lan_port = lan_port; f->remote_port = remote_port; f->proto = proto;
      uint32_t s = h & (SLOTS - 1);
      while (atomic_load_explicit(&index6[s], memory_order_relaxed) != 0) s = (s + 1) & (SLOTS - 1);
      atomic_store_explicit(&index6[s], (uint32_t)e + 1, memory_order_release);
    }
    pthread_mutex_unlock(&insert_lock);
    if (e < 0) return -1;
  }
  if (ip[7] != 255) ip[7]++; // the hop the second forwarding pass takes again
  return 0;
}

static int open_queue(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) { perror("open /dev/net/tun"); exit(1); }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { fprintf(stderr, "TUNSETIFF %s: %s\n", name, strerror(errno)); exit(1); }
  unsigned long offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | 0x20 | 0x40; // + USO4, USO6
  if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0 && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) {
    fprintf(stderr, "TUNSETOFFLOAD %s: %s\n", name, strerror(errno)); exit(1);
  }
  return fd;
}

struct queue { int base, in[2]; };

static void *run_queue(void *arg) {
  struct queue *q = arg;
  uint8_t *slab = malloc((size_t)BATCH * SLOT);
  size_t lens[BATCH];
  struct pollfd pfd[2] = {{q->in[0], POLLIN, 0}, {q->in[1], POLLIN, 0}};
  while (!stopping) {
    if (poll(pfd, 2, 200) <= 0) continue;
    for (int side = 0; side < 2; side++) {
      if (!pfd[side].revents) continue;
      for (;;) {
        int n = 0;
        while (n < BATCH) {
          ssize_t got = read(q->in[side], slab + (size_t)n * SLOT, SLOT);
          if (got <= 0) break;
          lens[n++] = (size_t)got;
        }
        uint64_t packets = 0, bytes = 0;
        for (int k = 0; k < n; k++) {
          uint8_t *p = slab + (size_t)k * SLOT;
          bytes += lens[k] - VNET_HDR_LEN;
          if (translate(p, lens[k], side == 1) < 0) continue;
          if (write(q->base, p, lens[k]) > 0) packets++;
        }
        // once per batch, like ipmasq's statistics
        atomic_fetch_add_explicit(&total_packets, packets, memory_order_relaxed);
        atomic_fetch_add_explicit(&total_bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&total_reads, (uint64_t)n, memory_order_relaxed);
        if (n < BATCH) break;
      }
    }
  }
  return NULL;
}

static void stop(int sig) { (void)sig; stopping = 1; }
static void ask(int sig) { (void)sig; report = 1; }

static void print_totals(void) {
  printf("packets %llu bytes %llu reads %llu\n", (unsigned long long)total_packets, (unsigned long long)total_bytes, (unsigned long long)total_reads);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: forwarder PUBLIC_ADDR QUEUES BASE_TUN LAN_TUN WAN_TUN\n"); return 2; }
  if (inet_pton(AF_INET, argv[1], &public_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[1]); return 2; }
  int queues = atoi(argv[2]);
  if (queues < 1 || queues > MAX_QUEUES) { fprintf(stderr, "queues: 1..%d\n", MAX_QUEUES); return 2; }
  struct sigaction sa = {0};
  sa.sa_handler = stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct sigaction su = {0};
  su.sa_handler = ask;
  sigaction(SIGUSR1, &su, NULL);
  struct queue q[MAX_QUEUES];
  pthread_t threads[MAX_QUEUES];
  for (int i = 0; i < queues; i++) q[i] = (struct queue){open_queue(argv[3]), {open_queue(argv[4]), open_queue(argv[5])}};
  printf("ready\n");
  fflush(stdout);
  // the signals go to this thread: the queue threads never see an interrupted read or write
  sigset_t mask, old;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM); sigaddset(&mask, SIGINT); sigaddset(&mask, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &mask, &old);
  for (int i = 0; i < queues; i++) pthread_create(&threads[i], NULL, run_queue, &q[i]);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  while (!stopping) {
    pause();
    if (report) { report = 0; print_totals(); }
  }
  for (int i = 0; i < queues; i++) pthread_join(threads[i], NULL);
  print_totals();
  return 0;
}
