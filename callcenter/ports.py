"""Is a TCP port free to listen on? Asked before the service binds, so that a busy port ends in one line that says
what to do instead of a traceback from deep inside the event loop."""

from __future__ import annotations

import errno
import socket

__all__ = ["in_use", "in_use_message"]


def in_use(host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound because something listens there (port 0 is always free)."""
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # the same option the service's own listeners set: a port in TIME_WAIT is free, a listening one is not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def in_use_message(what: str, host: str, port: int, flag: str) -> str:
    return f"callcenter: port {port} ({what}, {host}) is in use: stop what uses it or pass {flag} N"
