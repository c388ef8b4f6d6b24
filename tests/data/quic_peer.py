#!/usr/bin/env python3
"""A QUIC peer for tests/quic.rs, on the aioquic library (ALPN `echo`).

client HOST PORT CA NAME STREAMS BYTES: one connection, STREAMS
bidirectional streams, each sends BYTES random bytes and its FIN, reads the
echo to its FIN; prints `streams=N same=N bytes=N` (same: streams whose echo
was bit-exact).

server HOST PORT CERT KEY: echoes every stream (FIN included) until killed;
prints `listening` once bound, then `streams=N` after every finished stream.
"""
import asyncio
import os
import sys

from aioquic.asyncio import connect, serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived

CHUNK = 64 << 10


async def client(host, port, ca, name, streams, size):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["echo"], idle_timeout=60, server_name=name)
    cfg.load_verify_locations(ca)
    async with connect(host, port, configuration=cfg) as conn:

        async def one():
            reader, writer = await conn.create_stream()
            data = os.urandom(size)
            # aioquic hands out the next stream id only once a stream has
            # data: the first chunk goes now, before any other stream is made.
            writer.write(data[:CHUNK])

            async def send():
                for off in range(CHUNK, size, CHUNK):
                    writer.write(data[off:off + CHUNK])
                    await writer.drain()
                writer.write_eof()

            sender = asyncio.ensure_future(send())
            got = await reader.read()
            await sender
            return got == data, len(got)

        res = await asyncio.gather(*[one() for _ in range(streams)])
        same = sum(1 for ok, _ in res if ok)
        print(f"streams={len(res)} same={same} bytes={sum(n for _, n in res)}", flush=True)


class Echo(QuicConnectionProtocol):
    finished = 0

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            try:
                self._quic.send_stream_data(event.stream_id, event.data, end_stream=event.end_stream)
            except RuntimeError:
                # The peer stopped the stream (it closed before reading our FIN): nothing to send.
                return
            self.transmit()
            if event.end_stream:
                Echo.finished += 1
                print(f"streams={Echo.finished}", flush=True)


async def server(host, port, cert, key):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=["echo"], idle_timeout=60)
    cfg.load_cert_chain(cert, key)
    await serve(host, port, configuration=cfg, create_protocol=Echo)
    print("listening", flush=True)
    await asyncio.Future()


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "client":
        host, port, ca, name, streams, size = args
        asyncio.run(client(host, int(port), ca, name, int(streams), int(size)))
    elif mode == "server":
        host, port, cert, key = args
        asyncio.run(server(host, int(port), cert, key))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
