"""Checking a token is a read; its last use is written at most once a minute."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Unauthorized
from crm_core.models import ApiToken, Role
from crm_core.schemas import TokenIn, UserIn
from crm_core.users import LAST_USED_RESOLUTION, authenticate, create_token, create_user, touch_token


async def test_a_token_is_touched_once_per_resolution_and_checked_in_a_read_session(db: Database) -> None:
    async with db.session() as s:
        user = await create_user(s, Principal.system(), UserIn(name="Ann", role=Role.AGENT))
        token, secret = await create_token(s, Principal.system(), TokenIn(user_id=user.id, name="t"))
    async with db.read_session() as s:
        principal, touch = await authenticate(s, secret)
    assert (principal.user_id, touch) == (user.id, token.id)  # never used: due
    async with db.session() as s:
        await touch_token(s, touch)
    async with db.read_session() as s:
        assert (await authenticate(s, secret))[1] is None  # just used: nothing to write
        stored = await s.get(ApiToken, token.id)
        assert stored is not None and stored.last_used_at is not None
    async with db.session() as s:
        stored = await s.get(ApiToken, token.id)
        assert stored is not None and stored.last_used_at is not None
        stored.last_used_at -= LAST_USED_RESOLUTION + timedelta(seconds=1)
    async with db.read_session() as s:
        assert (await authenticate(s, secret))[1] == token.id  # a minute later: due again
        with pytest.raises(Unauthorized):
            await authenticate(s, secret + "x")
