"""While a sweep runs, the dashboard's REST API lists its trial actors, only with the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
import ray
from ray.tune import Callback

from tune_seeds.sweep import SchedulerSpec, build_tuner, connect

from .test_sweep import tiny_spec

pytestmark = pytest.mark.ray


def get_json(url: str, token: str | None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return json.load(r)


class TrialPids(Callback):
    """The worker process id Tune attaches to every result."""

    def __init__(self):
        self.pids: set[int] = set()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.pids.add(int(result["pid"]))


class ActorPoller(threading.Thread):
    """Polls ``/api/v0/actors`` until stopped; keeps the trial actors seen alive."""

    def __init__(self, url: str, token: str):
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.alive: dict[str, dict] = {}
        self.unauthenticated: int | None = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.5):
            if self.unauthenticated is None:
                try:
                    get_json(f"{self.url}/api/v0/actors", None)
                    self.unauthenticated = 200
                except urllib.error.HTTPError as err:
                    self.unauthenticated = err.code
            data = get_json(f"{self.url}/api/v0/actors?limit=1000", self.token)
            for actor in data["data"]["result"]["result"]:
                if actor["class_name"] == "ImplicitFunc" and actor["state"] == "ALIVE":
                    self.alive[actor["actor_id"]] = actor


@pytest.fixture
def token_auth_default():
    """Ray's default for a local cluster (token authentication on), restored afterwards."""
    before = os.environ.pop("RAY_AUTH_MODE", None)
    yield
    os.environ.pop("RAY_AUTH_MODE", None)
    if before is not None:
        os.environ["RAY_AUTH_MODE"] = before


CHILD_FLAG = "TUNE_SEEDS_DASHBOARD_TEST_CHILD"


def test_rest_api_lists_the_sweeps_trial_actors(token_auth_default, glue_fixture_dir, tmp_path):
    if os.environ.get(CHILD_FLAG) != "1":
        # Ray reads the authentication mode once per process (in its C++ config), so a
        # token-authenticated cluster would break every later test's cluster with
        # authentication off: this test runs in an interpreter of its own.
        env = {**os.environ, CHILD_FLAG: "1"}
        env.pop("RAY_AUTH_MODE", None)
        test_id = f"{__file__}::test_rest_api_lists_the_sweeps_trial_actors"
        child = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_id],
            env=env, capture_output=True, text=True, timeout=600,
        )
        assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
        assert "1 passed" in child.stdout
        return
    info = connect(dashboard=True, num_cpus=2)
    try:
        assert info.dashboard_url.startswith("http://127.0.0.1:")
        assert info.token_path is not None
        text = info.describe()
        assert f"Dashboard: {info.dashboard_url}" in text
        assert "Authorization: Bearer <token>" in text and str(info.token_path) in text
        poller = ActorPoller(info.dashboard_url, info.token_path.read_text().strip())
        poller.start()
        pids = TrialPids()
        spec = tiny_spec(glue_fixture_dir, tmp_path, "dash", num_samples=3,
                         scheduler=SchedulerSpec("fifo"))
        build_tuner(spec, extra_callbacks=[pids], verbose=0).fit()
        poller.stop.set()
        poller.join(timeout=10)
    finally:
        ray.shutdown()
    assert poller.unauthenticated == 401
    seen = {actor["pid"] for actor in poller.alive.values()}
    assert seen, "the REST API never listed a live trial actor"
    assert seen <= pids.pids
