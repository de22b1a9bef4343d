"""Each running service instance's name: in its FastAGI decisions (CallRouted.instance), its Redis messages and its
dialer leases, so instances sharing Redis and PostgreSQL tell their own work from another's."""

from __future__ import annotations

import os
import socket
import uuid


def new_instance_id() -> str:
    """Host and process, plus a random tail: a restarted process (same pid in a container) is a new instance."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
