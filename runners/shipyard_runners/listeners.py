"""Listening sockets that gunicorn inherits (``--bind fd://N``)."""

from __future__ import annotations

import socket

__all__ = ["set_no_delay"]


def set_no_delay(listener: socket.socket) -> None:
    """Turn Nagle's algorithm off on ``listener``; the connections it accepts inherit it.

    gunicorn sets TCP_NODELAY on the sockets it binds itself, but an inherited one it reads
    through a socket object of the Unix family, takes for a Unix socket, and leaves as it
    is. gunicorn writes an answer's head and body apart, so without it the body waits for
    the peer's delayed ACK: 40 ms on every call through a kept-alive connection.
    """
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
