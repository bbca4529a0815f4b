"""Django's Redis cache with one connection pool per process and one client per pool.

Django builds a cache object per thread, each with its own connection pool, and a new `redis.Redis`
client on every call. Under gunicorn's threads the webhook intake makes three cache calls a request,
so the client construction alone cost more than the round trips. Here every thread of a process
shares one pool (redis-py's pool is thread-safe) and one client per pool; a forked process starts its
own (redis-py's pool also checks the pid).
"""

from __future__ import annotations

import os
import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class SharedRedisCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        shared = (os.getpid(), self._servers[index], repr(sorted(self._pool_options.items())))
        client = _clients.get(shared)
        if client is None:
            with _lock:
                client = _clients.get(shared)
                if client is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    client = _clients[shared] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedRedisCacheClient


def cache_count(key: str, *, timeout: int, cache=None, by: int = 1) -> int:
    """Add `by` (one) to a counter that expires `timeout` seconds after its first count; returns the new count.

    On Redis one round trip (SET NX EX, then INCRBY, in a pipeline); on other caches add-then-incr.
    """
    from django.core.cache import caches

    cache = cache or caches["default"]  # the backend itself, not the `cache` proxy
    if isinstance(cache, DjangoRedisCache):
        redis_key = cache.make_and_validate_key(key)
        pipeline = cache._cache.get_client(redis_key, write=True).pipeline(transaction=False)
        pipeline.set(redis_key, 0, ex=timeout, nx=True)  # the window starts with the first count
        pipeline.incrby(redis_key, by)  # keeps the expiry
        return pipeline.execute()[1]
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key, by)
    except ValueError:  # expired between add and incr
        cache.add(key, by, timeout=timeout)
        return by
