"""Playback: what the caller heard, from marks (8 bytes of mu-law = 1 ms)."""

from __future__ import annotations

from app.call.playback import Playback


def test_heard_is_zero_until_a_mark_returns() -> None:
    p = Playback()
    p.sent("item1", 800)
    assert p.sent_ms("item1") == 100
    assert p.heard_ms("item1") == 0
    assert p.playing


def test_a_returned_mark_means_everything_before_it_was_heard() -> None:
    p = Playback()
    m1 = p.sent("item1", 800)
    m2 = p.sent("item1", 1600)
    p.sent("item1", 800)
    assert p.acknowledged(m2) == "item1"  # marks return in order; m1 is implied by m2
    assert p.heard_ms("item1") == 300
    assert p.acknowledged(m1) is None  # already consumed
    assert p.playing


def test_marks_returned_after_clear_do_not_count_as_heard() -> None:
    p = Playback()
    m1 = p.sent("item1", 800)
    m2 = p.sent("item1", 800)
    p.acknowledged(m1)
    p.clear()
    assert not p.playing
    assert p.acknowledged(m2) is None  # Twilio returns pending marks at once after a clear
    assert p.heard_ms("item1") == 100


def test_unknown_mark_names_are_ignored() -> None:
    p = Playback()
    p.sent("item1", 80)
    assert p.acknowledged("forged") is None
    assert p.heard_ms("item1") == 0


def test_items_are_tracked_separately_and_untracked_audio_has_no_item() -> None:
    p = Playback()
    a = p.sent("a", 400)
    tone = p.sent(None, 800)
    b = p.sent("b", 160)
    assert p.acknowledged(a) == "a"
    assert p.acknowledged(tone) is None
    assert p.item_playing("b") and not p.item_playing("a")
    assert p.acknowledged(b) == "b"
    assert (p.heard_ms("a"), p.heard_ms("b")) == (50, 20)
    assert not p.playing


def test_settle_credits_what_played_in_real_time_until_the_stop() -> None:
    p = Playback()
    m1 = p.sent("item1", 800, at_ms=0)  # plays 0-100
    p.sent("item1", 800, at_ms=5)  # 100-200, right after it
    p.sent("item1", 800, at_ms=10)  # 200-300
    p.acknowledged(m1)
    p.settle(at_ms=250)  # the stop overtook the last two marks
    assert p.heard_ms("item1") == 250
    assert not p.playing


def test_settle_starts_a_chunk_no_earlier_than_it_was_sent() -> None:
    p = Playback()
    m1 = p.sent("item1", 800, at_ms=0)
    p.acknowledged(m1)
    p.sent("item2", 800, at_ms=500)  # the buffer had run dry: it plays from 500
    p.settle(at_ms=540)
    assert p.heard_ms("item2") == 40


def test_settle_never_credits_more_than_was_sent() -> None:
    p = Playback()
    p.sent("item1", 800, at_ms=0)
    p.settle(at_ms=10_000)
    assert p.heard_ms("item1") == 100


def test_after_a_clear_settle_counts_from_the_clear() -> None:
    p = Playback()
    p.sent("item1", 8000, at_ms=0)  # a second of audio, cleared at 100 ms
    p.clear(at_ms=100)
    p.sent("item2", 800, at_ms=120)
    p.settle(at_ms=170)
    assert p.heard_ms("item2") == 50
