"""Connecting to Redis, with retries for transient faults and clear errors for the rest."""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry



class ReplayConnectionError(RuntimeError):
    """Redis unreachable, refusing our password, or out of memory; the message names the URL (masked) and cause."""


class _Retry(Retry):
    """Exponential-backoff retries of connection faults, except a refused password (redis-py counts
    AuthenticationError as a ConnectionError; retrying it only delays the error)."""

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        def retryable(err: Exception) -> bool:
            return not isinstance(err, redis.AuthenticationError) and (is_retryable is None or is_retryable(err))
        return super().call_with_retry(do, fail, retryable, with_failure_count)


def mask_url(url: str) -> str:
    """`redis://:secret@host:1/0` -> `redis://:***@host:1/0`."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def client_url(client: redis.Redis) -> str:
    """The masked URL a client talks to."""
    kw = client.connection_pool.connection_kwargs
    auth = ":***@" if kw.get("password") else ""
    return f"redis://{auth}{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


@contextlib.contextmanager
def redis_errors(url: str) -> Iterator[None]:
    """Turn Redis' auth, memory and connection errors into ReplayConnectionError saying what to do."""
    try:
        yield
    except redis.AuthenticationError as err:
        cause = err if "***" in url else "it requires a password and the URL has none"
        raise ReplayConnectionError(
            f"Redis at {url} refused authentication ({cause}): put the server's password in the URL, "
            f"redis://:PASSWORD@host:port/0, or leave replay.url empty for an embedded redis-server") from err
    except redis.OutOfMemoryError as err:
        raise ReplayConnectionError(
            f"Redis at {url} is out of memory ({err}): raise its maxmemory or lower replay.capacity") from err
    except (redis.ConnectionError, redis.TimeoutError) as err:
        raise ReplayConnectionError(
            f"cannot reach Redis at {url} after retrying ({err}): the server is gone; an embedded one logs to "
            f"<logdir>/redis/redis.log, an external one (replay.url, $VID2ACT_REDIS_URL) must be brought back") \
            from err


def connect(url: str, retries: int = 8, backoff: float = 0.05, timeout: float = 5.0) -> redis.Redis:
    """A client for `url` that answered PING; transient connection errors are retried with exponential backoff
    (here and in every later command: `retries` waits of backoff * 2^k, ~13 s in all by default, long enough for a
    restarted server), and what persists raises ReplayConnectionError."""
    shown = mask_url(url)
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=max(timeout, 30.0),
            retry=_Retry(ExponentialBackoff(cap=backoff * 2 ** retries, base=backoff), retries),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError])  # BusyLoadingError too
    except ValueError as err:
        raise ReplayConnectionError(f"bad Redis URL {shown} ({err}): expected redis://:PASSWORD@host:port/0") \
            from None
    with redis_errors(shown):
        client.ping()
    return client
