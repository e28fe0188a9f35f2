"""While a sweep runs, the dashboard's REST API lists its trial actors, only with the token,
each named by its seed pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import ray
from ray.tune import Callback

from tune_seeds.tuning.connect import connect
from tune_seeds.tuning.spec import SchedulerSpec
from tune_seeds.tuning.sweep import build_tuner
from tune_seeds.tuning.trainable import actor_label

from .test_sweep import tiny_spec

pytestmark = pytest.mark.ray


def get_json(url: str, token: str | None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return json.load(r)


class ActorsSeen(Callback):
    """On each trial's first result, the dashboard's record of the actor reporting it.

    Asked from the driver while the trial runs, so the actor is alive and listed.
    """

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.actors: dict[str, list[dict]] = {}
        self.labels: dict[str, str] = {}
        self.unauthenticated: int | None = None

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if trial.trial_id in self.actors:
            return
        if self.unauthenticated is None:
            try:
                get_json(f"{self.url}/api/v0/actors", None)
                self.unauthenticated = 200
            except urllib.error.HTTPError as err:
                self.unauthenticated = err.code
        # detail=1: the repr name is one of the state API's detail columns.
        data = get_json(f"{self.url}/api/v0/actors?limit=1000&detail=1", self.token)
        live = [a for a in data["data"]["result"]["result"]
                if a["pid"] == int(result["pid"]) and a["state"] == "ALIVE"]
        self.actors[trial.trial_id] = live
        self.labels[trial.trial_id] = actor_label(trial.config, trial.trial_id)


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
        seen = ActorsSeen(info.dashboard_url, info.token_path.read_text().strip())
        spec = tiny_spec(glue_fixture_dir, tmp_path, "dash", num_samples=3,
                         scheduler=SchedulerSpec("fifo"))
        # As run_sweep does with the dashboard on: a reused actor keeps its first repr.
        build_tuner(spec, extra_callbacks=[seen], verbose=0, reuse_actors=False).fit()
    finally:
        ray.shutdown()
    assert seen.unauthenticated == 401
    assert len(seen.actors) == 3, "the REST API did not list every trial's actor"
    for trial_id, live in seen.actors.items():
        assert len(live) == 1, f"trial {trial_id}: live actors with its pid: {live}"
        assert "wi=" in live[0]["repr_name"] and "do=" in live[0]["repr_name"]
        assert live[0]["repr_name"] == seen.labels[trial_id]
    assert len({live[0]["actor_id"] for live in seen.actors.values()}) == 3
