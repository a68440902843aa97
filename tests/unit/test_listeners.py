"""TCP_NODELAY on the listeners gunicorn inherits, and on what they accept."""

from __future__ import annotations

import socket

from shipyard.up.process_tree import _listen
from shipyard_runners.listeners import set_no_delay


def no_delay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_a_connection_accepted_by_such_a_listener_sends_without_waiting() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    assert not no_delay(listener)
    set_no_delay(listener)
    with listener, socket.create_connection(listener.getsockname()) as caller:
        accepted, _ = listener.accept()
        with accepted:
            assert no_delay(accepted)
            assert not no_delay(caller)


def test_the_sockets_shipyard_up_hands_to_the_api_and_the_gateway_have_it() -> None:
    with _listen("127.0.0.1", 0) as listener:
        assert no_delay(listener)
