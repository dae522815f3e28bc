"""Where key records live in Redis and the scripts that read and write them, each one round
trip (EVALSHA through redis-py's Script: the source is sent once per server). Everything a
script needs comes in as an argument; the scripts hold no setting of their own.

Every Redis key of one API key carries the hash tag `{<prefix>}` (record, counter, generation,
last-use marker, usage days): on a Redis Cluster they share one slot, so each script works on
one node (docs/operations.md, "Redis Cluster"). Keys of several API keys are only ever written
or read together in batches of single-key commands (apiproject.api.rediscluster.pipelined)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from redis.commands.core import Script

# Longer than any request may run (statement timeout, worker timeout): a fill that read the
# database before an invalidation always finds the generation moved.
GENERATION_TTL_SECONDS = 3600
# The marker of a key's last recorded use outlives the interval between two writes by far.
TOUCH_TTL_SECONDS = 24 * 60 * 60
# A key's day of usage stays in Redis for three days: `manage.py foldkeyusage` folds it into
# the database meanwhile (apikeys.usage), even if a run or two of it is missed.
USAGE_TTL_SECONDS = 3 * 24 * 60 * 60

# Counting one request against a key: its window's counter (expiring with the window) and
# its day's `requests` (expiring after USAGE_TTL_SECONDS), shared by both scripts that count.
_COUNT_FUNCTION = """
local function count_request(counter, counter_ttl, usage, usage_ttl)
  local count = redis.call('INCR', counter)
  if count == 1 then
    redis.call('EXPIRE', counter, counter_ttl)
  end
  redis.call('HINCRBY', usage, 'requests', 1)
  redis.call('EXPIRE', usage, usage_ttl, 'NX')
  return count
end
"""

# KEYS: record, counter, generation, touch, the day's usage. ARGV: digest, counter TTL (s), now
# (epoch s), touch interval (s), touch TTL (s), trusted ('1', or '0': the record may predate a
# recorded change, read it as a miss), usage TTL (s). {0, generation} for a miss; {1} when the
# digest does not match (nothing is counted); {2, record, count, touch} when it does: the
# request counted against the key's limit and its day, touch = 1 when this request is the one
# that refreshes last_used_at (at most once per interval, across every process).
_READ_AND_COUNT = (
    _COUNT_FUNCTION
    + """
local record = redis.call('GET', KEYS[1])
if not record or ARGV[6] ~= '1' then
  return {0, redis.call('GET', KEYS[3]) or '0'}
end
if string.sub(record, 1, 64) ~= ARGV[1] then
  return {1}
end
local count = count_request(KEYS[2], ARGV[2], KEYS[5], ARGV[7])
local touch = 0
local now = tonumber(ARGV[3])
local last = tonumber(redis.call('GET', KEYS[4]) or '-1')
if last < 0 or now - last >= tonumber(ARGV[4]) or now < last then
  redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[5])
  touch = 1
end
return {2, record, count, touch}
"""
)

# KEYS: record, generation, touch. ARGV: the generation read before the database, record, TTL
# (ms), last use (epoch s, '' for never), touch TTL (s). 1 when written, 0 when an
# invalidation moved the generation since.
_FILL = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4], 'NX', 'EX', ARGV[5])
end
return 1
"""

# KEYS: counter, the day's usage. ARGV: counter TTL (s), usage TTL (s).
_COUNT = _COUNT_FUNCTION + "return count_request(KEYS[1], ARGV[1], KEYS[2], ARGV[2])\n"

_scripts: dict[str, Script] = {}


def _script(client: Any, source: str) -> Script:
    # The SHA is computed once; each call passes the client (EVALSHA, loading on NOSCRIPT).
    found = _scripts.get(source)
    if found is None:
        found = _scripts[source] = client.register_script(source)
    return found


def _tag(prefix: str) -> str:
    # Redis hashes only what is between the first braces: one slot for all of a key's names.
    # A prefix is letters and digits (apikeys.keys), never a brace.
    return f"{{{prefix}}}"


def record_key(prefix: str) -> str:
    return f"apikeys:record:{_tag(prefix)}"


def generation_key(prefix: str) -> str:
    return f"apikeys:generation:{_tag(prefix)}"


def touch_key(prefix: str) -> str:
    return f"apikeys:used:{_tag(prefix)}"


def counter_key(prefix: str, window_end: int) -> str:
    return f"apikeys:count:{_tag(prefix)}:{window_end}"


def usage_key(prefix: str, day: date) -> str:
    """A key's counts of one UTC day: a hash of requests, errors, rate_limited."""
    return f"apikeys:usage:{_tag(prefix)}:{day:%Y%m%d}"


@dataclass(frozen=True)
class Read:
    """What read_and_count found: no record (`generation` to fill one with), a record whose
    digest is another's, or a match (`record`, this window's `count`, and `touch`)."""

    found: bool
    matched: bool = False
    generation: bytes = b"0"
    record: str = ""
    count: int = 0
    touch: bool = False


def read_and_count(
    client: Any,
    *,
    prefix: str,
    digest: str,
    window_end: int,
    counter_ttl: int,
    now: int,
    touch_interval: int,
    trusted: bool,
) -> Read:
    reply = _script(client, _READ_AND_COUNT)(
        keys=[
            record_key(prefix),
            counter_key(prefix, window_end),
            generation_key(prefix),
            touch_key(prefix),
            usage_key(prefix, _day(now)),
        ],
        args=[
            digest,
            counter_ttl,
            now,
            touch_interval,
            TOUCH_TTL_SECONDS,
            int(trusted),
            USAGE_TTL_SECONDS,
        ],
        client=client,
    )
    if reply[0] == 0:
        return Read(found=False, generation=reply[1])
    if reply[0] == 1:
        return Read(found=True)
    return Read(
        found=True, matched=True, record=reply[1].decode(), count=reply[2], touch=bool(reply[3])
    )


def fill(
    client: Any, *, prefix: str, generation: bytes, record: tuple[str, int], last_used: int | None
) -> bool:
    """Keep `record` (its text and TTL in ms) unless an invalidation moved the prefix's
    generation since `generation` was read; and the key's last use, when it has one."""
    text, ttl_ms = record
    written = _script(client, _FILL)(
        keys=[record_key(prefix), generation_key(prefix), touch_key(prefix)],
        args=[generation, text, ttl_ms, "" if last_used is None else last_used, TOUCH_TTL_SECONDS],
        client=client,
    )
    return bool(written)


def count(client: Any, *, prefix: str, window_end: int, counter_ttl: int, now: int) -> int:
    """Count the request against the key's limit and its day."""
    return _script(client, _COUNT)(
        keys=[counter_key(prefix, window_end), usage_key(prefix, _day(now))],
        args=[counter_ttl, USAGE_TTL_SECONDS],
        client=client,
    )


def _day(epoch: int) -> date:
    return datetime.fromtimestamp(epoch, tz=UTC).date()


def counted(client: Any, *, prefix: str, window_end: int) -> int:
    """This window's count, read without counting."""
    return int(client.get(counter_key(prefix, window_end)) or 0)


def drop_commands(prefixes: list[str]) -> list[tuple[Any, ...]]:
    """The commands that drop these keys' records and bump their generations, so that a fill
    from a read made before them is refused; for apiproject.api.rediscluster.pipelined.

    Not a transaction (on a cluster, one cannot span slots), and it need not be one: the fill
    is one script, and each prefix's commands run in this order on its one node. A fill that
    read the generation before the bump is refused; one that read it after the bump and wrote
    its record before the DEL is deleted by it; one that writes after the DEL read the
    generation, and so the database, after the bump: what a fill after a transaction could do
    too, and why the records are dropped again once the change commits
    (apikeys.keycache.invalidation). A drop cut short raises: its change stays pending and is
    delivered again, which bumps, sets the generation's TTL and deletes anew."""
    return [
        command
        for prefix in prefixes
        for command in (
            ("INCR", generation_key(prefix)),
            ("EXPIRE", generation_key(prefix), GENERATION_TTL_SECONDS),
            ("DEL", record_key(prefix)),
        )
    ]
