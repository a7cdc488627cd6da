#!/usr/bin/env python3
# TCP simultaneous open (RFC 9293 3.5), with only the standard library:
#   simopen.py HOST PORT LOCALPORT MESSAGE
# binds LOCALPORT, connect to HOST:PORT again and again until a connection
# forms (both ends do the same at once, so their SYNs cross); then exchange a line.
import socket, sys, time
host, port, lport, msg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
deadline = time.time() + 15
while time.time() < deadline:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", lport))
    s.settimeout(0.3)
    try:
        s.connect((host, port))
    except OSError:
        s.close(); time.sleep(0.05); continue
    s.settimeout(5)
    s.sendall((msg + "\n").encode())
    print("connected", s.getpeername()[0], s.recv(100).decode().strip(), flush=True)
    sys.exit(0)
print("never connected"); sys.exit(1)
