"""The human-readable report of one run's figures."""

from __future__ import annotations

from typing import Any

__all__ = ["format_report"]


def _ms(value: float | int | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def format_report(result: dict[str, Any]) -> str:
    """The human-readable report of one run."""
    machine = result["machine"]
    lines = [
        f"machine: {machine['cpus']} CPUs, load average {machine['load_average_before']} before, "
        f"{machine['load_average_after']} after"
    ]
    if result["scenario"] == "soak":
        return "\n".join([_soak_header(result), *lines, *_soak_lines(result)]) + "\n"
    model = result["model"]
    header = (
        f"benchmark: {result['scenario']}, {result['calls']} calls x "
        f"{result['seconds_per_call']:g} s (starts spread over {result['ramp_seconds']:g} s); "
        f"fake model connect {model['connect_delay_ms']} ms, first audio "
        f"{model['first_audio_delay_ms']} ms; webhook->stream {model['webhook_gap_ms']} ms"
    )
    greet = result["greeting_latency_ms"]
    c2m = result["relay_latency_ms"]["caller_to_model"]
    m2c = result["relay_latency_ms"]["model_to_caller"]
    frames = result["frames"]
    rows = result["rows"]
    server = result["server"]
    cpu = result["cpu"]
    me = result["bench_process"]
    lost = frames["caller_to_model_lost"] + frames["model_to_caller_lost"] + frames["misrouted"]
    worst_p99 = max((x for x in (c2m["p99"], m2c["p99"]) if x is not None), default=None)
    lines += [
        f"calls: {result['calls_ok']} ok, {result['calls_failed']} failed; "
        f"{result['caller_utterances']} caller utterances; {result['call_minutes']} call-minutes",
        f"greeting latency after start: p50 {_ms(greet['p50'])}, p99 {_ms(greet['p99'])}, "
        f"max {_ms(greet['max'])}  [target p99 <= 100 ms: "
        f"{_verdict(None if greet['p99'] is None else greet['p99'] <= 100)}]",
        f"added relay latency caller->model: p50 {_ms(c2m['p50'])}, p99 {_ms(c2m['p99'])}, "
        f"max {_ms(c2m['max'])} ({c2m['count']} frames)",
        f"added relay latency model->caller: p50 {_ms(m2c['p50'])}, p99 {_ms(m2c['p99'])}, "
        f"max {_ms(m2c['max'])} ({m2c['count']} frames)  [target p99 <= 5 ms: "
        f"{_verdict(None if worst_p99 is None else worst_p99 <= 5)}]",
        f"frames lost caller->model: {frames['caller_to_model_lost']} of "
        f"{frames['caller_to_model_sent']}; model->caller: {frames['model_to_caller_lost']} of "
        f"{frames['model_to_caller_sent']}; misrouted: {frames['misrouted']}  "
        f"[target 0: {_verdict(lost == 0)}]",
        f"rows lost: {rows['lost']} (calls without ended_at: {rows['calls_missing']}, "
        f"transcript turns missing: {rows['turns_missing']}, extra: {rows['turns_extra']})  "
        f"[target 0: {_verdict(rows['lost'] == 0)}]",
        f"server CPU: {server['cpu_seconds']} s over {cpu['wall_seconds']} s = "
        f"{server['cores_used']} cores (busiest second {server['busiest_second_cores']}, "
        f"idle {server['idle_cores']}); "
        f"{server['cpu_seconds_per_call_minute']} CPU s per call-minute "
        "(the embedded Postgres processes are not counted)",
        f"machine during the calls: {cpu['machine_busy_cores']} cores busy = server "
        f"{cpu['server_cores']} + load generator {cpu['bench_cores']} + Postgres "
        f"{cpu['database_cores']} + other {cpu['other_cores']}; waiting for a CPU: server "
        f"{cpu['server_runqueue_wait_seconds']} s, load generator "
        f"{cpu['bench_runqueue_wait_seconds']} s",
        f"server memory: idle RSS {server['idle_rss_mb']} MB, peak {server['peak_rss_mb']} MB; "
        f"{server['rss_per_call_mb']} MB per call",
        f"load generator (this process: fake model + callers): {me['cores_used']} cores "
        f"(busiest second {me['busiest_second_cores']}); "
        f"worst sender lag {me['worst_sender_lag_ms']} ms; event loop lag p99 "
        f"{_ms(me['loop_lag_ms']['p99'])}, max {_ms(me['loop_lag_ms']['max'])}; "
        f"longest GC pause {me['gc_pause_max_ms']} ms",
        f"model sessions left open: {result['model_sessions_left_open']}; caller protocol "
        f"errors: {result['protocol_errors']}; server log lines: {server['log_lines'] or 'none'}",
    ]
    lines += [f"error: {e}" for e in result["errors"]]
    return "\n".join([header, *lines]) + "\n"


def _soak_header(result: dict[str, Any]) -> str:
    return (
        f"benchmark: soak, {result['waves']} waves x {result['calls_per_wave']} calls "
        f"({', '.join(result['kinds'])}); prepared-session TTL "
        f"{result['preconnect_ttl_seconds']:g} s; {result['seconds']} s"
    )


def _soak_lines(result: dict[str, Any]) -> list[str]:
    base = result["baseline"]
    lines = [
        f"after warm-up: RSS {base['rss_mb']} MB, {base['fds']} fds, {base['tcp']} TCP",
        "wave  seconds  rss_mb  fds  tcp  tcp_estab  open_model_sessions  sessions_total",
    ]
    for w in result["per_wave"]:
        lines.append(
            f"{w['wave']:>4}  {w['seconds']:>7}  {w['rss_mb']:>6}  {w['fds']:>3}  {w['tcp']:>3}  "
            f"{w['tcp_established']:>9}  {w['open_model_sessions']:>19}  "
            f"{w['model_sessions_total']:>14}"
        )
    drift = result["drift_from_wave_2"]
    lines += [
        f"drift from wave 2 to wave {result['waves']}: RSS {drift['rss_mb']:+} MB, "
        f"fds {drift['fds']:+}, TCP {drift['tcp']:+}",
        f"leaked model sessions: {result['leaked_model_sessions']}",
        f"calls that did not go as expected: {result['calls_failed']}",
        f"server log lines: {result['server_log_lines'] or 'none'}",
    ]
    lines += [f"error: {e}" for e in result["errors"]]
    return lines
