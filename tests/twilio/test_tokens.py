"""Stream tokens: bound to the CallSid, short-lived, single-use, carrying the call's context."""

from __future__ import annotations

import base64
import hashlib
import hmac

from app.twilio.tokens import StreamTokens


def test_a_token_is_accepted_once_for_its_call() -> None:
    tokens = StreamTokens(b"secret", ttl_seconds=30)
    token = tokens.issue("CA1", disclose_recording=False, now=1000)
    assert tokens.redeem("CA1", token, now=1001) is not None
    assert tokens.redeem("CA1", token, now=1002) is None  # replayed


def test_a_token_of_another_call_or_key_is_refused() -> None:
    tokens = StreamTokens(b"secret", ttl_seconds=30)
    token = tokens.issue("CA1", disclose_recording=False, now=1000)
    assert tokens.redeem("CA2", token, now=1001) is None
    assert StreamTokens(b"other", ttl_seconds=30).redeem("CA1", token, now=1001) is None


def test_an_expired_or_malformed_token_is_refused() -> None:
    tokens = StreamTokens(b"secret", ttl_seconds=30)
    token = tokens.issue("CA1", disclose_recording=False, now=1000)
    assert tokens.redeem("CA1", token, now=1031) is None
    for bad in ["", ".", "abc.def", "1000", "9999999999.", "x" * 500, "2.1030.d.-.", "3.1.2.3.4"]:
        assert tokens.redeem("CA1", bad, now=1001) is None


def test_instances_sharing_the_secret_accept_each_others_tokens() -> None:
    one, two = StreamTokens(b"secret", 30), StreamTokens(b"secret", 30)
    token = one.issue("CA1", disclose_recording=True, machine_id="e784079b449483", now=1000)
    redeemed = two.redeem("CA1", token, now=1001)
    assert redeemed is not None and redeemed.machine_id == "e784079b449483"


def test_the_disclosure_decision_travels_signed_in_the_token() -> None:
    tokens = StreamTokens(b"secret", 30)
    told = tokens.issue("CA1", disclose_recording=True, now=1000)
    untold = tokens.issue("CA2", disclose_recording=False, now=1000)
    assert (r := tokens.redeem("CA1", told, now=1001)) is not None and r.disclose_recording
    assert (r := tokens.redeem("CA2", untold, now=1001)) is not None and not r.disclose_recording
    # Flipping the flag breaks the signature.
    forged = tokens.issue("CA3", disclose_recording=True, now=1000).replace(".d.", ".-.")
    assert tokens.redeem("CA3", forged, now=1001) is None


def test_a_token_of_the_previous_release_is_still_accepted_without_a_decision() -> None:
    """Streams of calls the old release answered during a deploy are not refused."""
    key = hmac.new(b"secret", b"receptionist-stream-token", hashlib.sha256).digest()
    mac = hmac.new(key, b"CA1.1030", hashlib.sha256).digest()
    legacy = "1030." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    redeemed = StreamTokens(b"secret", 30).redeem("CA1", legacy, now=1001)
    assert redeemed is not None and redeemed.disclose_recording is None
