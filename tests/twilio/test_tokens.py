"""Stream tokens: bound to the CallSid, short-lived, single-use."""

from __future__ import annotations

from app.twilio.tokens import StreamTokens


def test_a_token_is_accepted_once_for_its_call() -> None:
    tokens = StreamTokens(b"secret", ttl_seconds=30)
    token = tokens.issue("CA1", now=1000)
    assert tokens.redeem("CA1", token, now=1001)
    assert not tokens.redeem("CA1", token, now=1002)  # replayed


def test_a_token_of_another_call_or_key_is_refused() -> None:
    tokens = StreamTokens(b"secret", ttl_seconds=30)
    token = tokens.issue("CA1", now=1000)
    assert not tokens.redeem("CA2", token, now=1001)
    assert not StreamTokens(b"other", ttl_seconds=30).redeem("CA1", token, now=1001)


def test_an_expired_or_malformed_token_is_refused() -> None:
    tokens = StreamTokens(b"secret", ttl_seconds=30)
    token = tokens.issue("CA1", now=1000)
    assert not tokens.redeem("CA1", token, now=1031)
    for bad in ["", ".", "abc.def", "1000", "9999999999.", "x" * 500]:
        assert not tokens.redeem("CA1", bad, now=1001)


def test_instances_sharing_the_secret_accept_each_others_tokens() -> None:
    one, two = StreamTokens(b"secret", 30), StreamTokens(b"secret", 30)
    assert two.redeem("CA1", one.issue("CA1", now=1000), now=1001)
