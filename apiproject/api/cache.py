"""What a failing cache raises, in one place (Redis in production, memory in development)."""

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

# django-redis wraps redis-py's connection errors and timeouts in ConnectionInterrupted;
# OSError covers a socket failing underneath either.
CACHE_ERRORS: tuple[type[Exception], ...] = (ConnectionInterrupted, RedisError, OSError)
