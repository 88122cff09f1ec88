"""Opens many connections to the proxy and reports when the proxy closes them.

usage: flood.py PORT COUNT SOURCE_IP MODE HOST SECONDS
  MODE idle: send nothing; busy: send one request for HOST on each.
Prints `open N failed F in T s` once connected, `closed K of N after T s,
A answered` as the proxy closes them or answers on them (at most once a
second, and at the end), and exits when all are closed,
after SECONDS, or when stdin closes.
"""
import selectors, socket, sys, time

port, count, source, mode, host, seconds = sys.argv[1:7]
port, count, seconds = int(port), int(count), float(seconds)
socks = []
failed = 0
began = time.monotonic()
for _ in range(count):
    s = socket.socket()
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        if mode == "busy":
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    except OSError:
        failed += 1
        s.close()
        continue
    socks.append(s)
start = time.monotonic()
print(f"open {len(socks)} failed {failed} in {start - began:.1f} s", flush=True)
sel = selectors.DefaultSelector()
for s in socks:
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
sel.register(sys.stdin, selectors.EVENT_READ)
closed, answered, last = 0, set(), start
deadline = start + seconds
while closed < len(socks) and time.monotonic() < deadline:
    stop = False
    for key, _ in sel.select(timeout=0.2):
        if key.fileobj is sys.stdin:
            if not sys.stdin.readline():
                stop = True
            continue
        try:
            data = key.fileobj.recv(4096)
        except OSError:
            data = b""
        if data:
            answered.add(key.fileobj.fileno())
        else:
            sel.unregister(key.fileobj)
            key.fileobj.close()
            closed += 1
    if stop:
        break
    if time.monotonic() - last >= 1:
        last = time.monotonic()
        print(f"closed {closed} of {len(socks)} after {last - start:.1f} s, {len(answered)} answered", flush=True)
print(f"closed {closed} of {len(socks)} after {time.monotonic() - start:.1f} s, {len(answered)} answered", flush=True)
