"""A fault-injecting TCP proxy: every directed link of the cluster (a client
node -> a server node's port) gets its own listener on 127.0.0.1, and the
chaos process decides per direction whether bytes flow.

A cut direction stops forwarding: the proxy stops reading from that side, so
bytes wait (TCP back-pressure), exactly like packets a partitioned network
keeps retransmitting. A new connection on a link with either direction cut is
accepted but not connected upstream until both directions are open again (a
real handshake needs both). Optionally the existing connections are reset
when a cut starts or ends (a timeout that gave up). Healing a direction
resumes whatever was held.

The proxy runs an asyncio loop on its own thread; the chaos thread calls
cut()/heal()/set_upstream() which hand work to the loop thread-safely."""
import asyncio
import socket
import threading

FWD, BACK = "fwd", "back"
CHUNK = 64 * 1024


class Link:
    def __init__(self, name, src, dst, rate_bytes=None):
        self.name = name          # e.g. "cA->sk1"
        self.src, self.dst = src, dst
        self.upstream = None      # (host, port) of the server, None while it is down
        self.rate_bytes = rate_bytes  # pace the fwd direction at this many bytes/s (None: no limit)
        self.gates = {}           # direction -> asyncio.Event (set: open)
        self.conns = set()        # open (client_writer, server_writer) pairs
        self.port = None
        self.server = None
        self.accepted = 0
        self.bytes = {FWD: 0, BACK: 0}


class Proxy:
    def __init__(self):
        self.links = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro, timeout=10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # ---------------------------------------------------------- setup

    def add_link(self, src, dst, rate_bytes=None):
        """Creates and starts the listener of link src->dst; returns its port."""
        link = Link("%s->%s" % (src, dst), src, dst, rate_bytes)
        self.links[(src, dst)] = link
        self._call(self._listen(link))
        return link.port

    async def _listen(self, link):
        link.gates = {FWD: asyncio.Event(), BACK: asyncio.Event()}
        link.gates[FWD].set()
        link.gates[BACK].set()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        link.server = await asyncio.start_server(lambda r, w: self._accept(link, r, w), sock=sock,
                                                 limit=CHUNK * 2)
        link.port = sock.getsockname()[1]

    def set_upstream(self, src, dst, addr):
        link = self.links[(src, dst)]
        self.loop.call_soon_threadsafe(setattr, link, "upstream", addr)

    def port(self, src, dst):
        return self.links[(src, dst)].port

    # ---------------------------------------------------------- faults

    def _gate(self, src, dst):
        """(link, direction) pairs that carry bytes from node src to node dst."""
        out = []
        if (src, dst) in self.links:
            out.append((self.links[(src, dst)], FWD))
        if (dst, src) in self.links:
            out.append((self.links[(dst, src)], BACK))
        return out

    def cut(self, src, dst, reset=False):
        """Stops bytes from src to dst (one way). reset: also reset the
        connections of the links involved."""
        self._call(self._set(self._gate(src, dst), False, reset))

    def heal(self, src, dst, reset=False):
        self._call(self._set(self._gate(src, dst), True, reset))

    def reset_links_of(self, node):
        """Resets every connection to or from node (its peers see a reset)."""
        links = [l for l in self.links.values() if node in (l.src, l.dst)]
        self._call(self._reset(links))

    async def _set(self, gates, open_, reset):
        for link, d in gates:
            if open_:
                link.gates[d].set()
            else:
                link.gates[d].clear()
        if reset:
            await self._reset([l for l, _ in gates])

    async def _reset(self, links):
        for link in links:
            for pair in list(link.conns):
                for w in pair:
                    if w is not None:
                        w.transport.abort()
                link.conns.discard(pair)

    def heal_all(self):
        async def go():
            for link in self.links.values():
                link.gates[FWD].set()
                link.gates[BACK].set()
        self._call(go())

    def cut_directions(self):
        """Names of the cut directions, for status lines."""
        out = []
        for link in self.links.values():
            for d in (FWD, BACK):
                if link.gates and not link.gates[d].is_set():
                    out.append("%s:%s" % (link.name, d))
        return out

    # ---------------------------------------------------------- forwarding

    async def _accept(self, link, reader, writer):
        try:
            await self._serve(link, reader, writer)
        except asyncio.CancelledError:
            pass  # the proxy is closing; the finally of _serve already aborted both sides

    async def _serve(self, link, reader, writer):
        link.accepted += 1
        pair = [writer, None]
        key = (writer, None)
        link.conns.add(key)
        try:
            # A handshake needs both directions.
            while not (link.gates[FWD].is_set() and link.gates[BACK].is_set()):
                await asyncio.wait([asyncio.ensure_future(link.gates[FWD].wait()),
                                    asyncio.ensure_future(link.gates[BACK].wait())],
                                   return_when=asyncio.ALL_COMPLETED)
                if writer.transport.is_closing():
                    return
            if link.upstream is None or writer.transport.is_closing():
                return
            try:
                up_r, up_w = await asyncio.wait_for(
                    asyncio.open_connection(*link.upstream, limit=CHUNK * 2), 5.0)
            except (OSError, asyncio.TimeoutError):
                return  # the server is down: the client sees its connection closed
            link.conns.discard(key)
            key = (writer, up_w)
            link.conns.add(key)
            pair[1] = up_w
            await asyncio.gather(self._pump(link, FWD, reader, up_w),
                                 self._pump(link, BACK, up_r, writer),
                                 return_exceptions=True)
        finally:
            link.conns.discard(key)
            for w in pair:
                if w is not None:
                    w.transport.abort()

    async def _pump(self, link, d, reader, writer):
        gate = link.gates[d]
        pace = link.rate_bytes if d == FWD else None
        try:
            while True:
                await gate.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                await gate.wait()
                writer.write(data)
                link.bytes[d] += len(data)
                await writer.drain()
                if pace:
                    await asyncio.sleep(len(data) / pace)
        except (OSError, asyncio.CancelledError, ConnectionError):
            pass
        finally:
            writer.transport.abort()
            # the other pump ends when its reader sees the abort

    def close(self):
        async def go():
            for link in self.links.values():
                if link.server:
                    link.server.close()
            await self._reset(list(self.links.values()))
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 3.0)
        try:
            self._call(go(), timeout=5.0)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5.0)
