"""The login throttle (``api/throttle.py``) and how the authenticator uses it and its verification cache
(``api/auth.py``): pure, on a fake clock, with a PBKDF2 that counts its calls."""

import asyncio

import pytest

from browsercouch.api import auth, throttle
from browsercouch.api.throttle import FREE_FAILURES, MAX_LOCK, LoginThrottle
from browsercouch.errors import TooManyRequests, Unauthorized

ITERATIONS = 1000


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class CountingPbkdf2:
    """A ``Pbkdf2`` that counts derivations; ``gate``, when set, holds them until released."""

    def __init__(self):
        self.calls, self.gate = 0, None

    async def __call__(self, prf, password, salt, iterations):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return await auth.pbkdf2_inline(prf, password, salt, iterations)


@pytest.fixture(autouse=True)
def no_refusal_delay(monkeypatch):
    monkeypatch.setattr(auth, "REFUSAL_DELAY", 0)


def _authenticator(clock, pbkdf2, password="s3cret"):
    creds = auth.hash_password(password, iterations=ITERATIONS)
    return auth.Authenticator(admins={"admin": creds}, pbkdf2=pbkdf2, clock=clock)


# -- the throttle ---------------------------------------------------------------------------------------


def test_failures_beyond_the_free_ones_lock_for_doubling_times_up_to_a_cap():
    limiter, now = LoginThrottle(), 0.0
    for _ in range(FREE_FAILURES):
        limiter.failed("10.0.0.1", "admin", now)
        assert limiter.wait("10.0.0.1", "admin", now) == 0
    locks = []
    for _ in range(8):
        limiter.failed("10.0.0.1", "admin", now)
        locks.append(limiter.wait("10.0.0.1", "admin", now))
    assert locks == [1, 2, 4, 8, 16, 16, 16, 16] and max(locks) == MAX_LOCK
    assert limiter.wait("10.0.0.1", "admin", now + MAX_LOCK) == 0


def test_address_and_name_are_throttled_apart():
    limiter = LoginThrottle()
    for number in range(FREE_FAILURES + 1):
        limiter.failed("10.0.0.1", f"user{number}", 0.0)
    assert limiter.wait("10.0.0.1", "someone", 0.0) == 1  # the address tried too many names
    assert limiter.wait("10.0.0.2", "user0", 0.0) == 0
    for number in range(FREE_FAILURES + 1):
        limiter.failed(f"10.0.1.{number}", "admin", 0.0)
    assert limiter.wait("10.0.0.9", "admin", 0.0) == 1  # the name was tried from too many addresses
    assert limiter.wait("10.0.0.9", "admin", 0.0, name_too=False) == 0


def test_a_success_clears_the_name_not_the_address():
    limiter = LoginThrottle()
    for _ in range(FREE_FAILURES + 1):
        limiter.failed("10.0.0.1", "admin", 0.0)
    limiter.started("10.0.0.2", "admin", 0.0)
    limiter.ended("10.0.0.2", "admin", 0.0, ok=True)
    assert limiter.wait("10.0.0.2", "admin", 0.0) == 0
    assert limiter.wait("10.0.0.1", "other", 0.0) == 1


def test_concurrent_checks_per_key_are_capped():
    limiter = LoginThrottle()
    for _ in range(throttle.MAX_CONCURRENT):
        assert limiter.wait("10.0.0.1", "admin", 0.0) == 0
        limiter.started("10.0.0.1", "admin", 0.0)
    assert limiter.wait("10.0.0.1", "admin", 0.0) == 1
    limiter.ended("10.0.0.1", "admin", 0.0, ok=False)
    assert limiter.wait("10.0.0.1", "admin", 0.0) == 0


def test_memory_is_bounded_and_old_failures_are_forgotten():
    limiter = LoginThrottle(max_keys=100)
    for number in range(1000):
        limiter.failed(f"10.0.{number // 250}.{number % 250}", f"name{number}", float(number))
    assert all(len(keys.entries) == 100 for keys in (limiter._addresses, limiter._names))
    later = 999 + throttle.FORGET_AFTER
    limiter.wait("10.9.9.9", None, later)
    assert len(limiter._addresses.entries) == 0


@pytest.mark.parametrize(("address", "key"), [
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("192.0.2.7", "192.0.2.7"),
    (None, None),
])
def test_ipv6_peers_are_keyed_by_their_64(address, key):
    assert throttle.address_key(address) == key


# -- the authenticator ----------------------------------------------------------------------------------


def test_a_right_password_is_derived_once_then_remembered():
    clock, pbkdf2 = Clock(), CountingPbkdf2()
    authenticator = _authenticator(clock, pbkdf2)
    for _ in range(3):
        assert asyncio.run(authenticator.check_password("admin", "s3cret", "10.0.0.1")).is_admin
    assert pbkdf2.calls == 1
    clock.now += auth.CACHE_IDLE + 1
    asyncio.run(authenticator.check_password("admin", "s3cret", "10.0.0.1"))
    assert pbkdf2.calls == 2


def test_a_password_change_is_never_answered_from_the_cache():
    clock, pbkdf2 = Clock(), CountingPbkdf2()
    authenticator = _authenticator(clock, pbkdf2)
    asyncio.run(authenticator.check_password("admin", "s3cret"))
    authenticator.admins["admin"] = auth.hash_password("changed", iterations=ITERATIONS)
    with pytest.raises(Unauthorized):
        asyncio.run(authenticator.check_password("admin", "s3cret"))
    assert asyncio.run(authenticator.check_password("admin", "changed")).is_admin
    assert pbkdf2.calls == 3


def test_requests_with_the_same_credentials_at_once_derive_once():
    clock, pbkdf2 = Clock(), CountingPbkdf2()
    authenticator = _authenticator(clock, pbkdf2)

    async def burst():
        pbkdf2.gate = asyncio.Event()
        checks = [asyncio.ensure_future(authenticator.check_password("admin", "s3cret", "10.0.0.1"))
                  for _ in range(8)]
        await asyncio.sleep(0)
        pbkdf2.gate.set()
        return await asyncio.gather(*checks)

    assert all(ctx.is_admin for ctx in asyncio.run(burst()))
    assert pbkdf2.calls == 1


def test_a_flooding_address_is_answered_429_without_derivations():
    clock, pbkdf2 = Clock(), CountingPbkdf2()
    authenticator = _authenticator(clock, pbkdf2)
    for number in range(FREE_FAILURES + 20):
        with pytest.raises((Unauthorized, TooManyRequests)):
            asyncio.run(authenticator.check_password("admin", f"guess{number}", "10.0.0.1"))
    assert pbkdf2.calls == FREE_FAILURES + 1
    with pytest.raises(TooManyRequests) as refused:
        asyncio.run(authenticator.check_password("admin", "s3cret", "10.0.0.1"))
    assert 1 <= refused.value.retry_after <= MAX_LOCK
    assert ("Retry-After", str(refused.value.retry_after)) in refused.value.headers
    assert refused.value.to_json()["error"] == "too_many_requests" and refused.value.status == 429


def test_a_remembered_password_passes_a_lock_on_its_name_not_on_its_address():
    clock, pbkdf2 = Clock(), CountingPbkdf2()
    authenticator = _authenticator(clock, pbkdf2)
    asyncio.run(authenticator.check_password("admin", "s3cret", "10.0.0.2"))
    for number in range(FREE_FAILURES + 1):
        with pytest.raises(Unauthorized):
            asyncio.run(authenticator.check_password("admin", f"guess{number}", f"10.0.1.{number}"))
    assert asyncio.run(authenticator.check_password("admin", "s3cret", "10.0.0.2")).is_admin
    with pytest.raises(TooManyRequests):
        asyncio.run(authenticator.check_password("admin", "wrong", "10.0.0.4"))
    for number in range(FREE_FAILURES + 1):
        with pytest.raises((Unauthorized, TooManyRequests)):
            asyncio.run(authenticator.check_password("nobody", f"guess{number}", "10.0.0.5"))
    with pytest.raises(TooManyRequests):
        asyncio.run(authenticator.check_password("admin", "s3cret", "10.0.0.5"))
