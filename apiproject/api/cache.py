"""What a failing cache raises, in one place (Redis in production, memory in development)."""

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError, SlotNotCoveredError

# django-redis wraps redis-py's connection errors and timeouts in ConnectionInterrupted;
# OSError covers a socket failing underneath either. On a Redis Cluster, a cluster that cannot
# be reached is a ConnectionError too (apiproject.api.rediscluster), and a slot without a node
# is redis-py's SlotNotCoveredError; a script or command whose keys span slots is neither, but
# a bug.
CACHE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionInterrupted,
    RedisError,
    OSError,
    SlotNotCoveredError,
)
