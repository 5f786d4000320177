"""The dev phone's audio: the browser's G.711 codec and resampler agree with app/lib/audio.py
and the G.711 reference (shared vectors), in Python and in Debian's headless Chromium; the
playout keeps Twilio's rules for marks and clear, without an edge at chunk boundaries. The
round-trip signal-to-noise ratios are reported at the end of the run (and in docs)."""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from g711_reference import load, reference_decode, reference_encode, snr_db, tone, vectors
from phone_figures import FIGURES
from playwright.async_api import Page
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app.lib.audio import pcm16_to_ulaw, resample_pcm16, ulaw_to_pcm16
from tests.chromium import launched, need
from tests.doubles.server import serve_app

STATIC = Path(__file__).resolve().parents[2] / "app" / "phone" / "static"


def test_the_shared_vectors_are_what_app_lib_audio_makes() -> None:
    assert load() == vectors()  # regenerate: python -m tests.phone.g711_reference


def test_app_lib_audio_is_the_g711_reference_for_every_sample_and_code() -> None:
    data = load()
    encoded = base64.b64decode(data["encode_b64"])
    assert list(encoded) == [reference_encode(s) for s in range(-32768, 32768)]
    assert data["decode"] == [reference_decode(c) for c in range(256)]
    # ITU-T G.711's ends of the scale: 0xFF and 0x7F are zero, 0x80 / 0x00 the largest.
    assert (data["decode"][0xFF], data["decode"][0x7F]) == (0, 0)
    assert (data["decode"][0x80], data["decode"][0x00]) == (32124, -32124)


@pytest.mark.parametrize(
    ("freq", "least_db"),
    # 1000 Hz is 8 samples a period at 8 kHz: the same few values over and over, so its error
    # is not noise-like; ITU-T test tones are off-round (1004 Hz) for exactly that reason.
    [(1000.0, 33.5), (1004.0, 36.0)],
)
def test_the_mu_law_round_trip_snr_of_a_tone_is_g711s(freq: float, least_db: float) -> None:
    signal = tone(8000, freq, 1000)
    decoded = ulaw_to_pcm16(pcm16_to_ulaw(signal))
    snr = snr_db([float(s) for s in signal], [float(d) for d in decoded])
    FIGURES[f"mu-law round trip, {freq:.0f} Hz tone at -6 dBFS (Python = browser codes)"] = (
        f"{snr:.1f} dB SNR"
    )
    assert snr >= least_db  # G.711: about 37-38 dB for a loud tone


@pytest.fixture(scope="module")
async def page() -> AsyncIterator[Page]:
    """A page of an origin serving the phone's static modules (no service needed)."""
    need("chromium")
    app = Starlette(
        routes=[
            Route("/", lambda _request: HTMLResponse("<!doctype html><title>codec</title>")),
            Mount("/static", app=StaticFiles(directory=STATIC)),
        ]
    )
    async with serve_app(app) as server, launched() as browser:
        opened = await browser.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda exc: errors.append(str(exc)))
        await opened.goto(server.http_url + "/")
        yield opened
    assert errors == []


async def _run(page: Page, body: str, arg: Any = None) -> Any:
    """Run `body` in the page with the phone's modules imported as g711, resample, audio."""
    script = (
        "async (arg) => { const g711 = await import('/static/g711.js');"
        " const resample = await import('/static/resample.js');"
        " const audio = await import('/static/phone-audio.js');"
        f" {body} }}"
    )
    return await page.evaluate(script, arg)


async def test_the_browser_codec_gives_the_same_codes_and_samples_as_python(page: Page) -> None:
    data = load()
    result = await _run(
        page,
        """
        const samples = new Int16Array(65536);
        for (let i = 0; i < 65536; i += 1) { samples[i] = i - 32768; }
        const codes = g711.encodeInt16(samples);
        let text = '';
        for (let i = 0; i < codes.length; i += 1) { text += String.fromCharCode(codes[i]); }
        const all = new Uint8Array(256).map((_, i) => i);
        return { encoded: btoa(text), decoded: Array.from(g711.decodeInt16(all)) };
        """,
    )
    assert result["encoded"] == data["encode_b64"]
    assert result["decoded"] == data["decode"]


def _sine_fit_snr(samples: list[float], rate: int, freq: float) -> float:
    """SNR against the best-fitting sine of that frequency (so a delay costs nothing)."""
    w = 2 * math.pi * freq / rate
    s = sum(x * math.sin(w * n) for n, x in enumerate(samples))
    c = sum(x * math.cos(w * n) for n, x in enumerate(samples))
    ss = sum(math.sin(w * n) ** 2 for n in range(len(samples)))
    cc = sum(math.cos(w * n) ** 2 for n in range(len(samples)))
    fit = [s / ss * math.sin(w * n) + c / cc * math.cos(w * n) for n in range(len(samples))]
    return snr_db(fit, samples)


async def test_the_browser_resampler_agrees_with_python_and_stops_aliasing(page: Page) -> None:
    """48 kHz to 8 kHz: a 1 kHz tone comes out as app/lib/audio.py's linear interpolation
    gives it (within its own error); a 6 kHz tone, which linear interpolation folds down to
    2 kHz at full level, is filtered out."""
    data = load()
    aliased = tone(48000, 6000.0, 100)
    result = await _run(
        page,
        """
        const run = (samples) => {
          const r = new resample.Resampler(48000, 8000);
          return Array.from(r.push(Float32Array.from(samples, (s) => s / 32768)), (x) => x * 32768);
        };
        return { tone: run(arg.tone), aliased: run(arg.aliased) };
        """,
        {"tone": data["tone_48k"], "aliased": aliased},
    )
    ours = result["tone"][20:780]
    python = [float(x) for x in data["tone_8k_linear"][20:780]]
    agreement = snr_db(python, ours)
    fidelity = _sine_fit_snr(ours, 8000, 1000.0)
    rms_in = math.sqrt(sum(x * x for x in aliased) / len(aliased))
    out = result["aliased"][20:780]
    rms_out = math.sqrt(sum(x * x for x in out) / len(out))
    rejection = 20 * math.log10(rms_in / max(rms_out, 1e-9))
    linear = resample_pcm16(aliased, 48000, 8000)[20:780]
    linear_rms = math.sqrt(sum(x * x for x in linear) / len(linear))
    linear_rejection = 20 * math.log10(rms_in / linear_rms)
    FIGURES["resampler 48->8 kHz, 1 kHz tone: browser vs app/lib/audio.py"] = (
        f"{agreement:.1f} dB agreement; browser vs ideal sine {fidelity:.1f} dB SNR"
    )
    FIGURES["resampler 48->8 kHz, 6 kHz tone (would alias to 2 kHz)"] = (
        f"browser attenuates it {rejection:.0f} dB; linear interpolation {linear_rejection:.0f} dB"
    )
    assert linear_rejection < 3.0  # why the browser does not interpolate linearly
    assert agreement >= 30.0
    assert fidelity >= 40.0
    assert rejection >= 40.0


@pytest.mark.parametrize(("freq", "least_db"), [(1000.0, 33.0), (1004.0, 35.5)])
async def test_the_whole_path_round_trip_snr_of_a_tone(
    page: Page, freq: float, least_db: float
) -> None:
    """Microphone (48 kHz) -> 8 kHz mu-law frames -> decoded and played back at 48 kHz: no
    worse than mu-law alone (the resamplers add next to nothing)."""
    result = await _run(
        page,
        """
        const rate = 48000;
        const input = new Float32Array(rate);
        for (let n = 0; n < rate; n += 1) { input[n] = 0.5 * Math.sin(2 * Math.PI * arg * n / rate); }
        const capture = new audio.Capture(rate);
        const frames = [];
        for (let i = 0; i < input.length; i += 128) { frames.push(...capture.push(input.subarray(i, i + 128))); }
        const playout = new audio.Playout(rate);
        frames.forEach((f) => playout.push(f));
        const out = [];
        for (let i = 0; i < 40; i += 1) {
          const block = new Float32Array(1024);
          playout.render(block);
          out.push(...block);
        }
        return { frames: frames.length, sizes: [...new Set(frames.map((f) => f.length))], out };
        """,
        freq,
    )
    assert result["sizes"] == [160] and result["frames"] >= 49  # 20 ms frames
    steady = result["out"][9600:33600]  # 0.2 to 0.7 s: past the prebuffer, before the end
    snr = _sine_fit_snr(steady, 48000, freq)
    FIGURES[f"whole path 48 kHz -> 8 kHz mu-law -> 48 kHz, {freq:.0f} Hz tone at -6 dBFS"] = (
        f"{snr:.1f} dB SNR"
    )
    assert snr >= least_db


async def test_playout_is_the_same_whatever_the_chunks_and_has_no_gaps(page: Page) -> None:
    """The same mu-law sent as one chunk or as many odd ones plays as the same samples: no
    edge to click at; and while audio is queued the output never falls silent."""
    result = await _run(
        page,
        """
        const ulaw = g711.encodeFloats(Float32Array.from({ length: 4000 }, (_, n) => 0.5 * Math.sin(2 * Math.PI * 1000 * n / 8000)));
        const play = (sizes) => {
          const p = new audio.Playout(48000);
          let at = 0, i = 0;
          while (at < ulaw.length) { const n = sizes[i++ % sizes.length]; p.push(ulaw.subarray(at, at + n)); at += n; }
          const out = [];
          for (let k = 0; k < 200; k += 1) { const b = new Float32Array(128); p.render(b); out.push(...b); }
          return out;
        };
        const whole = play([4000]);
        const pieces = play([37, 160, 333, 1, 96, 800]);
        let same = whole.length === pieces.length;
        for (let i = 0; same && i < whole.length; i += 1) { same = whole[i] === pieces[i]; }
        let start = whole.findIndex((x) => Math.abs(x) > 0.01), run = 0, longest = 0;
        for (let i = start; i < start + 48000 * 0.45; i += 1) {
          run = Math.abs(whole[i]) < 1e-3 ? run + 1 : 0;
          longest = Math.max(longest, run);
        }
        return { same, start, longest };
        """,
    )
    assert result["same"]
    assert 0.07 * 48000 <= result["start"] <= 0.1 * 48000  # after the 80 ms prebuffer
    assert result["longest"] <= 4  # a 1 kHz sine is near zero for a few samples, no more


async def test_playout_returns_a_mark_once_its_audio_played_and_clear_returns_the_rest(
    page: Page,
) -> None:
    result = await _run(
        page,
        """
        const p = new audio.Playout(48000);
        const fired = [];
        const render = (ms) => { for (let i = 0; i < ms * 48 / 128; i += 1) { fired.push(...p.render(new Float32Array(128)).map((n) => [n, p.rendered / 48])); } };
        p.mark('idle');               // nothing queued: it comes back at once
        render(10);
        const tone = new Uint8Array(800).fill(0x80);  // 100 ms of loud audio
        p.push(tone); p.mark('a'); p.push(tone); p.mark('b'); p.push(tone); p.mark('c');
        render(300);
        const cleared = p.clear();    // 'c' is still pending: back at once, in order
        render(50);
        return { fired, cleared };
        """,
    )
    fired = {name: ms for name, ms in result["fired"]}
    assert list(fired) == ["idle", "a", "b"]
    assert fired["idle"] <= 5
    # Queued at 10 ms; the spurt starts 80 ms later; 'a' after its 100 ms, 'b' after 200 ms.
    assert 190 <= fired["a"] <= 196 and 290 <= fired["b"] <= 296
    assert result["cleared"] == ["c"]
