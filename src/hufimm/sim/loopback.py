"""Listening sockets for the simulated services on loopback.

Sockets are bound before a server starts so that port 0 picks a free port and the URL is known
at once.  ``TCP_NODELAY`` is set on the listener (accepted connections inherit it): asyncio only
sets it itself for sockets it creates, and without it a response written as headers then body
waits on a delayed ACK, about 40 ms per request on loopback.
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def bind_loopback(port: int = 0, host: str = LOOPBACK) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
