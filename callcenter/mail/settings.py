"""The ``[mail]`` settings section: the SMTP server the outbox sends through.

The password never sits in the config file: ``password_env`` names the environment variable that holds it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callcenter.mail.addresses import AddressError, check_address

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Empty host: nothing is sent; e-mails wait in the outbox (status "pending") until a host is configured.
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    # none: plain SMTP (a local relay); starttls: upgrade after connecting (port 587); tls: TLS from the start (465).
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str = ""
    # The name of the environment variable holding the SMTP password (e.g. "SMTP_PASSWORD"), never the password.
    password_env: str = ""
    from_address: str = "callcenter@localhost"
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_attempts: int = Field(default=8, ge=1, le=50)
    base_backoff_s: float = Field(default=30.0, gt=0)
    max_backoff_s: float = Field(default=3600.0, gt=0)
    # A report file larger than this is not attached: the e-mail says so (the report can be exported in the API).
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # How often the report scheduler looks for due schedules (a run-now wakes it at once).
    scheduler_interval_s: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if value and not _ENV_NAME.match(value):
            raise ValueError("must be the name of an environment variable (letters, digits, _), not the password")
        return value

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        try:
            return check_address(value)
        except AddressError as exc:
            raise ValueError(str(exc)) from None

    def password(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The password from the named environment variable; None when none is configured."""
        if not self.password_env:
            return None
        environ = os.environ if environ is None else environ
        value = environ.get(self.password_env)
        if value is None:
            raise LookupError(f"mail.password_env names {self.password_env}, which is not set in the environment")
        return value
