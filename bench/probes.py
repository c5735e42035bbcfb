"""Freshness probes in a process of their own: threads that poll the session list until an
acknowledged request's session shows its version.

Not in the benchmark's process, because there they shared one GIL with the 16 threads
generating the load: in a full run on a busy machine a probe began up to 658 ms after its
acknowledgement, and a row already visible at the first poll counted all that wait as
staleness. ``time.monotonic()`` is the machine's one monotonic clock, so the
acknowledgement's time taken in the load's process and the sighting's taken here compare.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass, field

import httpx

from bench.load import Ack

PROBE_INTERVAL = 0.02
PROBE_TIMEOUT = 30.0


@dataclass
class Sightings:
    """Per probe: seconds from acknowledgement to the row showing it (``latencies``), and
    to the probe's first poll (``waits``: how late the prober began)."""

    latencies: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)


class Probers:
    """``count`` prober threads in a spawned process; ``probe`` hands one acknowledgement
    over, ``finish`` stops them and returns what they saw."""

    def __init__(self, api_url: str, key: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._acks = context.Queue()
        self._results = context.Queue()
        self._ready = context.Event()
        self._count = count
        self._process = context.Process(
            target=_run,
            args=(api_url, key, count, self._acks, self._results, self._ready),
            name="freshness-probers",
            daemon=True,
        )

    def __enter__(self) -> Probers:
        """Started, and back once the probers poll: the first acknowledgements must not wait
        for the process's imports."""
        self._process.start()
        if not self._ready.wait(60):
            self.__exit__()
            raise RuntimeError("the freshness probers did not start within 60 s")
        return self

    def __exit__(self, *_exc) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)

    def probe(self, ack: Ack) -> None:
        self._acks.put((ack.session_id, ack.version, ack.at))

    def finish(self) -> Sightings:
        for _ in range(self._count):
            self._acks.put(None)
        sightings = self._results.get(timeout=PROBE_TIMEOUT + 30)
        self._process.join(10)
        return sightings


def _run(api_url: str, key: str, count: int, acks, results, ready) -> None:
    sightings = Sightings()
    threads = [
        threading.Thread(target=_probe, args=(api_url, key, acks, sightings), daemon=True)
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    ready.set()
    for thread in threads:
        thread.join(PROBE_TIMEOUT + 5)
    results.put(sightings)


def _probe(api_url: str, key: str, acks, sightings: Sightings) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=10) as http:
        while True:
            try:
                ack = acks.get(timeout=1)
            except queue.Empty:
                continue
            if ack is None:
                return
            session_id, version, acknowledged_at = ack
            sightings.waits.append(time.monotonic() - acknowledged_at)
            deadline = acknowledged_at + PROBE_TIMEOUT
            while not _listed(http, session_id, version) and time.monotonic() < deadline:
                time.sleep(PROBE_INTERVAL)
            sightings.latencies.append(min(time.monotonic(), deadline) - acknowledged_at)


def _listed(http: httpx.Client, session_id: str, version: int) -> bool:
    """The session's row on GET /v1/sessions shows at least the acknowledged version."""
    page = http.get("/v1/sessions", params={"contact": session_id[:8]}).json()
    return any(
        item["session_id"] == session_id and item["version"] >= version
        for item in page.get("items", [])
    )
