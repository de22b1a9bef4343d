"""E-mail addresses and header values checked before anything reaches the outbox: a bad address or a header value
with a line break (header injection) is refused with the field named."""

from __future__ import annotations

from email.errors import HeaderParseError
from email.headerregistry import Address

MAX_ADDRESS_LENGTH = 320


class AddressError(ValueError):
    """The value is not one e-mail address, or would break out of its header."""


def check_header_value(value: str) -> str:
    """A header value on one line: CR or LF would start a header of the sender's choosing."""
    if "\r" in value or "\n" in value:
        raise AddressError("must not contain CR or LF (header injection)")
    return value


def check_address(value: str) -> str:
    """One bare address (local@domain), as the SMTP envelope needs it; returns it stripped."""
    check_header_value(value)
    raw = value.strip()
    if not raw:
        raise AddressError("is empty; give an e-mail address such as ops@example.com")
    if len(raw) > MAX_ADDRESS_LENGTH:
        raise AddressError(f"is longer than {MAX_ADDRESS_LENGTH} characters")
    if any(c in raw for c in " <>,;\"\t") or any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise AddressError(f"{raw!r} is not one bare e-mail address (local@domain, no name, no list)")
    try:
        address = Address(addr_spec=raw)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise AddressError(f"{raw!r} is not an e-mail address: {exc}") from None
    if not address.username or not address.domain or address.addr_spec != raw:
        raise AddressError(f"{raw!r} is not an e-mail address (local@domain)")
    labels = address.domain.split(".")
    if any(not label or label.startswith("-") or label.endswith("-") for label in labels):
        raise AddressError(f"{raw!r} has no valid domain")
    return raw
