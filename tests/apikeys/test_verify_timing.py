"""An unknown prefix costs what a known prefix with a wrong secret costs
(docs/api.md, "Verifying a key")."""

import pytest

from apikeys import keys, verification
from tests.factories import APIKeyFactory


@pytest.fixture
def digests(monkeypatch) -> list[str]:
    computed: list[str] = []
    real_digest = keys.digest

    def spy(plaintext: str) -> str:
        computed.append(plaintext)
        return real_digest(plaintext)

    monkeypatch.setattr(keys, "digest", spy)
    return computed


def test_an_unknown_prefix_computes_and_compares_a_digest(db, digests, monkeypatch):
    compared: list[tuple[str, str]] = []
    real_compare = verification.hmac.compare_digest
    monkeypatch.setattr(
        verification.hmac,
        "compare_digest",
        lambda a, b: compared.append((a, b)) or real_compare(a, b),
    )
    unknown = keys.generate(keys.generate_prefix())

    assert verification.apikey_verify(plaintext=unknown) is None
    assert digests == [unknown]
    # The checksum's comparison comes first; the digests' last.
    assert compared[-1] == (verification.UNKNOWN_PREFIX_DIGEST, keys.digest(unknown))


def test_a_known_prefix_with_a_wrong_secret_does_the_same_work(db, user, digests):
    wrong = keys.generate(APIKeyFactory(owner=user).prefix)
    digests.clear()

    assert verification.apikey_verify(plaintext=wrong) is None
    assert digests == [wrong]
