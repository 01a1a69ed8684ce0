"""Password hashing: argon2id at OWASP's parameters, off the event loop, a few at a time.

A hash takes tens of milliseconds of CPU and 19 MiB of memory by design. Run
on the event loop it would stall every other request; run without a bound, a
flood of logins would take memory without limit. So each hash runs in a
worker thread (argon2 releases the GIL) and at most `MAX_CONCURRENT_HASHES`
run at once per process; the rest wait their turn.
"""

import asyncio
import os
from functools import cache

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

# OWASP's Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1.
MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1
# One hash per core keeps the cores busy; more would only queue inside the OS.
MAX_CONCURRENT_HASHES = max(2, os.cpu_count() or 1)

_hasher = PasswordHash((Argon2Hasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM),))
_turns = asyncio.Semaphore(MAX_CONCURRENT_HASHES)


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that answer costs what a wrong password costs."""
    return _hasher.hash("a password nobody has, for unknown emails")


async def hash_password(password: str) -> str:
    async with _turns:
        return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether `password` matches, and a new hash when the stored one uses older parameters.

    With no stored hash (an unknown email, or a user without a password) it
    still hashes, against a dummy, and answers False: both cost the same time.
    """
    async with _turns:
        if password_hash is None:
            await asyncio.to_thread(_hasher.verify, password, await asyncio.to_thread(_dummy_hash))
            return False, None
        try:
            return await asyncio.to_thread(_hasher.verify_and_update, password, password_hash)
        except UnknownHashError:  # a hash not made by us (edited by hand): it matches nothing
            return False, None
