"""A Fly app of several real `receptionist serve` Machines on one Postgres, behind the proxy double.

async with FleetOfMachines(db_url, tmp_path, model, twilio) as fleet:
    caller = fleet.caller(CallerConfig(...))      # dials through the proxy, like Twilio
    fleet.stop(fleet.ids[0])                        # a Machine replaced in a deploy

Each Machine is its own process with FLY_MACHINE_ID, FLY_APP_NAME and FLY_DNS_SERVER set as Fly
(and the proxy double's DNS) would; PUBLIC_BASE_URL is the proxy's URL, the one Twilio calls and
signs. Shared by tests/fleet and the benchmark's two-Machine mode.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.doubles.fly_proxy import Balance, FlyProxyDouble
from tests.doubles.harness import ACCOUNT_SID, AUTH_TOKEN
from tests.doubles.server import free_port
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig

APP = "receptionist-test"
MACHINE_IDS = ("e784079b449483", "3d8d9e7ae62548", "9080e3a4c55d87")
PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"


class FleetOfMachines:
    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        *,
        realtime_url: str,
        twilio_api_base: str = "http://127.0.0.1:9",
        machines: int = 2,
        balance: Balance | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.realtime_url = realtime_url
        self.twilio_api_base = twilio_api_base
        self.ids = list(MACHINE_IDS[:machines])
        self.proxy = FlyProxyDouble(APP, balance)
        self.extra_env = env or {}
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.logs: dict[str, Path] = {}
        self.ports: dict[str, int] = {}

    @property
    def url(self) -> str:
        return self.proxy.url

    def _env(self, machine_id: str, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TWILIO_"))}
        env.update(
            PORT=str(port),
            DATABASE_URL=self.database_url,
            DATA_DIR=str(self.data_dir / machine_id),
            PUBLIC_BASE_URL=self.proxy.url,
            OPENAI_API_KEY="sk-test-not-real",
            OPENAI_REALTIME_URL=self.realtime_url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_PHONE_NUMBER="+15559870000",
            TWILIO_API_BASE=self.twilio_api_base,
            HUMAN_TRANSFER_NUMBER="+15550009999",
            BUSINESS_PROFILE=str(PROFILE),
            FLY_MACHINE_ID=machine_id,
            FLY_APP_NAME=APP,
            SECRET_KEY="fleet-test-secret-key-" + "0" * 32,  # required on Fly (the console)
            FLY_DNS_SERVER=self.proxy.dns.server,
            LOG_FORMAT="json",
            EMBEDDED_DATABASE_ON_FLY="no",
            DRAIN_SECONDS="2",
        )
        env.update(self.extra_env)
        return env

    async def __aenter__(self) -> FleetOfMachines:
        await self.proxy.__aenter__()
        try:
            for machine_id in self.ids:
                port = free_port()
                self.ports[machine_id] = port
                (self.data_dir / machine_id).mkdir(parents=True, exist_ok=True)
                self.procs[machine_id] = self._spawn(machine_id, port)
            for machine_id in self.ids:
                await self._ready(machine_id)
                self.proxy.add(machine_id, self.ports[machine_id])
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    def _spawn(self, machine_id: str, port: int) -> subprocess.Popen[str]:
        fd, name = tempfile.mkstemp(prefix=f"serve-{machine_id}-", suffix=".log")
        self.logs[machine_id] = Path(name)
        try:  # the child gets its own copy of the descriptor
            return subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve"],
                env=self._env(machine_id, port),
                cwd=self.data_dir,
                stdout=fd,
                stderr=subprocess.STDOUT,
                text=True,
            )
        finally:
            os.close(fd)

    async def _ready(self, machine_id: str) -> None:
        proc, port = self.procs[machine_id], self.ports[machine_id]
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(trust_env=False) as http:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise AssertionError(f"{machine_id} exited early:\n{self.log(machine_id)}")
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{machine_id} never ready:\n{self.log(machine_id)}")

    def log(self, machine_id: str) -> str:
        return self.logs[machine_id].read_text()[-4000:]

    def events(self, machine_id: str, event: str) -> int:
        """How many log lines of `event` the Machine has written."""
        return self.logs[machine_id].read_text().count(f'"event": "{event}"')

    def stop(self, machine_id: str) -> None:
        """The Machine is gone at once (a crash, or replaced in a deploy after its drain)."""
        self.proxy.stop(machine_id)
        proc = self.procs[machine_id]
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def caller(self, config: CallerConfig | None = None) -> FakeTwilioCaller:
        return FakeTwilioCaller(self.proxy.url, AUTH_TOKEN, config)

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        await self.proxy.__aexit__(None, None, None)
        for log in self.logs.values():
            log.unlink(missing_ok=True)
