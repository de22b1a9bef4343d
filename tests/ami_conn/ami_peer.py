"""An AMI server for tests that speaks with the real traces' bytes (Asterisk itself cannot run here).

It answers Login (checking the secret, with Asterisk 20's exact replies from the traces), Ping, the resync list
actions (empty lists, in Asterisk's EventList form) and a few actions; the test decides when to stream a recorded
trace's frames, cut the connection, or announce a restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from callcenter.ami.permissions import REQUIRED_ACTIONS

EOL = b"\r\n"
BANNER = b"Asterisk Call Manager/9.0.0\r\n"
LIST_COMPLETE = {
    "CoreShowChannels": ("Channels will follow", "CoreShowChannelsComplete"),
    "QueueStatus": ("Queue status will follow", "QueueStatusComplete"),
    "DeviceStateList": ("Device State Changes will follow", "DeviceStateListComplete"),
    "PJSIPShowContacts": ("A listing of Contacts follows, presented as ContactList events", "ContactListComplete"),
}


def frame(**headers: str) -> bytes:
    return b"".join(f"{k}: {v}".encode() + EOL for k, v in headers.items()) + EOL


def trace_frames(path: Path) -> list[bytes]:
    """The event frames of a capture, as received (banner, responses and Goodbye left out)."""
    data = path.read_bytes()
    data = data.split(EOL, 1)[1] if data.startswith(b"Asterisk Call Manager/") else data
    frames = [part + EOL + EOL for part in data.split(EOL + EOL) if part.strip()]
    return [f for f in frames if f.startswith(b"Event: ")]


class AmiPeer:
    def __init__(self, *, secret: str = "s3cret") -> None:
        self.secret = secret
        # action -> the Message of a `Response: Error` Asterisk would answer instead (Permission denied, No ... found)
        self.errors: dict[str, str] = {}
        # what QueueStatus lists: QueueMember items (headers as Asterisk sends them); a restart may clear it
        self.queue_members: list[dict[str, str]] = []
        # queues that exist (QueueParams in QueueStatus) and dialplan globals (Getvar without a channel)
        self.queues: list[str] = []
        self.globals: dict[str, str] = {}
        # what ListCommands lists: the actions this user's write classes permit (None: all that the peer knows)
        self.permitted: set[str] | None = None
        self.server: asyncio.base_events.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0
        self.actions: list[dict[str, str]] = []
        self.logged_in = asyncio.Event()
        self.action_seen = asyncio.Condition()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)

    async def close(self) -> None:
        self.drop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def drop(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()
        self.logged_in.clear()

    async def send(self, data: bytes) -> None:
        for writer in self.writers:
            writer.write(data)
            await writer.drain()

    async def restart(self) -> None:
        """What `core restart now` sends before the socket closes (asterisk_restart.ami)."""
        await self.send(frame(Event="Shutdown", Privilege="system,all", Timestamp="1795390000.000000", Shutdown="Cleanly", Restart="True"))
        self.drop()

    async def wait_action(self, name: str) -> dict[str, str]:
        async with self.action_seen:
            await self.action_seen.wait_for(lambda: any(a.get("Action") == name for a in self.actions))
            return next(a for a in self.actions if a.get("Action") == name)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(BANNER)
        try:
            while True:
                raw = await reader.readuntil(EOL + EOL)
                headers = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n") if ": " in line)
                async with self.action_seen:
                    self.actions.append(headers)
                    self.action_seen.notify_all()
                writer.write(self._answer(headers))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()

    def _answer(self, action: dict[str, str]) -> bytes:
        name, action_id = action.get("Action", ""), action.get("ActionID", "")
        if name == "Login":
            if action.get("Secret") != self.secret:
                return frame(Response="Error", ActionID=action_id, Message="Authentication failed")
            self.logins += 1
            self.logged_in.set()
            return frame(Response="Success", ActionID=action_id, Message="Authentication accepted") + frame(
                Event="FullyBooted", Privilege="system,all", Uptime="149", LastReload="149", Status="Fully Booted"
            )
        if name in self.errors:
            return frame(Response="Error", ActionID=action_id, Message=self.errors[name])
        if name == "ListCommands":
            known = ["Login", "Ping", "ListCommands", "Hangup", *REQUIRED_ACTIONS, *LIST_COMPLETE]
            allowed = [a for a in known if self.permitted is None or a in self.permitted or a in ("Login", "Ping", "ListCommands", "QueueStatus")]
            return frame(Response="Success", ActionID=action_id, **{a: f"{a} synopsis (Priv: <none>)" for a in allowed})
        if name == "Ping":
            return frame(Response="Success", ActionID=action_id, Ping="Pong", Timestamp="1795390634.124611")
        if name in LIST_COMPLETE:
            message, complete = LIST_COMPLETE[name]
            items = []
            if name == "QueueStatus":
                wanted = action.get("Queue")
                items = [frame(Event="QueueParams", Queue=q, Max="0", Strategy="linear", Calls="0", ActionID=action_id)
                         for q in self.queues if wanted in (None, q)]
                items += [frame(Event="QueueMember", **m, ActionID=action_id)
                          for m in self.queue_members if wanted in (None, m["Queue"])]
            return frame(Response="Success", ActionID=action_id, EventList="start", Message=message) + b"".join(items) + frame(
                Event=complete, ActionID=action_id, EventList="Complete", ListItems=str(len(items))
            )
        if name == "Getvar" and "Channel" not in action:
            return frame(Response="Success", ActionID=action_id, Variable=action.get("Variable", ""),
                         Value=self.globals.get(action.get("Variable", ""), ""))
        if name == "QueuePause":
            return frame(Response="Success", ActionID=action_id, Message="Interface paused successfully")
        if name == "QueueAdd":
            return frame(Response="Success", ActionID=action_id, Message="Added interface to queue")
        if name == "Originate":
            return frame(Response="Success", ActionID=action_id, Message="Originate successfully queued")
        if name == "Hangup":
            return frame(Response="Error", ActionID=action_id, Message="No such channel")
        return frame(Response="Error", ActionID=action_id, Message="Invalid/unknown command")
