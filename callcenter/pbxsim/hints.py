"""Custom device states (func_devstate.c) and dialplan hints (main/pbx.c), as the supervisors' BLF keys see them.

- ``Setvar`` without a channel on ``DEVICE_STATE(Custom:<name>)`` (manager.c action_setvar ->
  pbx_builtin_setvar_helper(NULL, ...) -> ast_func_write -> devstate_write): no VarSet (a function is written, not
  a variable); the value is kept in astdb (family CustomDevstate, so it survives a restart: load_module reads the
  tree back) and announced as DeviceStateChange with ast_devstate_str of what ast_devstate_val read (an unknown
  word is UNKNOWN), only when the state changes; a real run (Asterisk 20.20.1, tests/real_asterisk/test_deskphone.py)
  shows the hint's ExtensionStatus first, then DeviceStateChange, and nothing for the same value written again.
- A hint on the device follows it: ExtensionStatus (manager.c manager_state_cb, class call) with the extension
  state (pbx.c ast_devstate_to_extenstate) when it changes; ExtensionStateList lists every concrete hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["EXTENSION_STATE", "EXTENSION_STATE_TEXT", "Hints"]

_DEVICE_STATES: Final = ("UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE",
                         "ONHOLD")
# pbx.c ast_devstate_to_extenstate
EXTENSION_STATE: Final = {"UNKNOWN": 0, "NOT_INUSE": 0, "INUSE": 1, "BUSY": 2, "INVALID": 4, "UNAVAILABLE": 4,
                          "RINGING": 8, "RINGINUSE": 9, "ONHOLD": 16}
# pbx.c extension_states
EXTENSION_STATE_TEXT: Final = {0: "Idle", 1: "InUse", 2: "Busy", 4: "Unavailable", 8: "Ringing", 9: "InUse&Ringing",
                               16: "Hold", 17: "InUse&Hold"}
PREFIX: Final = "DEVICE_STATE("


class Hints:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.astdb: dict[str, str] = {}  # CustomDevstate/<name> -> the value written (kept over a restart)
        self.last: dict[tuple[str, str], int] = {}  # (context, exten) -> the hint's last extension state

    @staticmethod
    def is_device_state(variable: str) -> bool:
        return variable.upper().startswith(PREFIX) and variable.endswith(")")

    def write(self, variable: str, value: str) -> str | None:
        """Setvar DEVICE_STATE(...)=value; an error message as Asterisk answers it, or None."""
        device = variable[len(PREFIX):-1]
        if not device.startswith("Custom:"):
            # devstate_write: "DEVICE_STATE function can only be used to set 'Custom:' device state!" (logged;
            # ast_func_write fails, action_setvar still answers Success: it ignores the result)
            return None
        name = device[len("Custom:"):]
        self.astdb[name] = value
        state = value.upper() if value.upper() in _DEVICE_STATES else "UNKNOWN"
        # Asterisk 20.20.1 (tests/real_asterisk/test_deskphone.py): the hint's ExtensionStatus goes out before the
        # device's DeviceStateChange
        self.refresh()
        self.pbx._set_pseudo_device(device, state)
        return None

    def device_state(self, device: str) -> str:
        if device.startswith("Custom:"):
            value = self.astdb.get(device[len("Custom:"):], "UNKNOWN").upper()
            return value if value in _DEVICE_STATES else "UNKNOWN"
        return self.pbx.device_state(device)

    def state_of(self, hint: str) -> int:
        # one device per hint in the shipped dialplan; several (A&B) take the "most busy" as ast_devstate_aggregate
        states = [EXTENSION_STATE[self.device_state(d.strip())] for d in hint.split("&") if d.strip()]
        return max(states, default=4)

    def refresh(self) -> None:
        for context, exten, hint in self.pbx.dialplan.hints():
            state = self.state_of(hint)
            # a hint's first state (pbx.c ast_add_hint) is that of its devices at load: Idle for a Custom: device
            # nobody set (UNKNOWN -> NOT_INUSE); only a change is announced
            previous = self.last.get((context, exten), 0)
            self.last[(context, exten)] = state
            if previous != state:
                self.pbx.emit.extension_status(exten=exten, context=context, hint=hint, status=state,
                                               text=EXTENSION_STATE_TEXT.get(state, "Unknown"))

    def restart(self) -> None:
        """A new process: the custom states come back from astdb (func_devstate load_module), without events."""
        self.last.clear()
        for name, value in self.astdb.items():
            state = value.upper() if value.upper() in _DEVICE_STATES else "UNKNOWN"
            self.pbx.devices[f"Custom:{name}"] = state
        for context, exten, hint in self.pbx.dialplan.hints():
            self.last[(context, exten)] = self.state_of(hint)

    def list_items(self, action_id: str) -> list[list[tuple[str, str]]]:
        """pbx.c action_extensionstatelist: every concrete hint (pattern hints are skipped)."""
        items = []
        for context, exten, hint in self.pbx.dialplan.hints():
            if exten.startswith("_"):
                continue
            state = self.state_of(hint)
            items.append([("Event", "ExtensionStatus"), ("ActionID", action_id), ("Exten", exten),
                          ("Context", context), ("Hint", hint), ("Status", str(state)),
                          ("StatusText", EXTENSION_STATE_TEXT.get(state, "Unknown"))])
        return items
