"""The cluster path of docs/cluster.md on a real cluster: ``ray start --head`` with token
authentication, a sweep joining it with ``--address``, and ``ray job submit``.

The head runs on this machine with free ports, its own ``--temp-dir`` (so it never
reads or writes ``/tmp/ray``, where other Ray instances keep their state) and its
own token file (``RAY_AUTH_TOKEN_PATH``, so ``~/.ray/auth_token`` is neither read nor
written). It is started in a session of its own; the teardown kills exactly the
processes of that session, plus the job driver (which Ray starts in a session of
its own), found by its command line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tune_seeds.tables import load_results

ROOT = Path(__file__).resolve().parents[1]
# The project's interpreter, as invoked (not resolved: the venv's python is a link).
PYTHON = os.path.abspath(sys.executable)
RAY_CLI = Path(PYTHON).parent / "ray"

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(not RAY_CLI.is_file(),
                       reason=f"no ray CLI beside the interpreter ({RAY_CLI}); "
                       "install the project's dependencies (ray[tune,default])"),
]

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports (ephemeral range, away from Ray's worker ports)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without Ray's authentication and address variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env.update(extra)
    return env


@dataclass
class Head:
    gcs_port: int
    dashboard_port: int
    token_path: Path
    temp_dir: Path
    session: int  # the session id of every process of the head
    markers: list[str]  # command-line parts of its other processes (the job's driver)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"


def head_processes(session: int, markers: tuple[str, ...]) -> list[psutil.Process]:
    """Processes of the head's session, or whose command line names one of ``markers``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        try:
            mine = os.getsid(proc.pid) == session
        except OSError:
            continue
        cmdline = " ".join(proc.info["cmdline"] or ())
        if mine or any(m in cmdline for m in markers):
            found.append(proc)
    return found


def kill_head(session: int, markers: tuple[str, ...]) -> None:
    """SIGTERM, then SIGKILL after 5 s, to exactly the head's processes."""
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        procs = head_processes(session, markers)
        if not procs:
            return
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        psutil.wait_procs(procs, timeout=wait_s)
    left = head_processes(session, markers)
    assert not left, f"processes of the test's Ray head survived SIGKILL: {left}"


@pytest.fixture(scope="module")
def token_head(tmp_path_factory: pytest.TempPathFactory):
    """``ray start --head`` with token authentication, 2 CPUs, free ports, its own temp dir."""
    token_path = tmp_path_factory.mktemp("auth") / "auth_token"
    token_path.write_text(secrets.token_hex(32))
    token_path.chmod(0o600)
    # A short folder: Ray's socket paths below it must stay under 108 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="ts-ray-", dir="/tmp" if Path("/tmp").is_dir()
                                     else None))
    gcs, dashboard, client, agent = free_ports(4)
    command = [
        str(RAY_CLI), "start", "--head", "--port", str(gcs), "--num-cpus", "2",
        "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
        "--ray-client-server-port", str(client), "--dashboard-agent-listen-port", str(agent),
        "--temp-dir", str(temp_dir), "--disable-usage-stats",
    ]
    env = clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path))
    starter = subprocess.Popen(command, env=env, start_new_session=True, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    head = Head(gcs, dashboard, token_path, temp_dir, starter.pid, [str(temp_dir)])
    try:
        output, _ = starter.communicate(timeout=180)
        assert starter.returncode == 0, f"ray start failed:\n{output[-4000:]}"
        yield head
    finally:
        if starter.poll() is None:
            starter.kill()
        kill_head(head.session, tuple(head.markers))
        shutil.rmtree(temp_dir, ignore_errors=True)


def sweep_args(glue_dir: Path, storage: Path, name: str) -> list[str]:
    """A sweep of 2 one-layer trials on the fixture's RTE files, a few seconds each."""
    return [
        "experiments/run_sweep.py", "--task", "rte", "--glue-dir", str(glue_dir),
        "--num-hidden-layers", "1", "--train-examples", "16", "--dev-examples", "8",
        "--batch-size", "8", "--epochs", "1", "--evals-per-epoch", "2",
        "--search", "grid", "--wi-seeds", "1-2", "--do-seeds", "1", "--scheduler", "fifo",
        "--storage-path", str(storage), "--name", name,
        "--cache-dir", str(storage / "tokenized"), "--verbose", "0",
    ]


def assert_two_trials_completed(folder: Path) -> None:
    trials, curves = load_results(folder)
    assert len(trials) == 2
    assert set(trials.stopped_by) == {"completed"}
    assert sorted(trials.wi_seed) == [1, 2]
    assert set(curves.eval_index) == {0, 1, 2}


def test_sweep_joins_a_token_cluster_by_address(token_head, glue_fixture_dir, tmp_path):
    """RAY_AUTH_MODE unset, the token in a file: the runner turns token mode on, says
    so, and the sweep runs on the cluster."""
    env = clean_env(RAY_AUTH_TOKEN_PATH=str(token_head.token_path))
    run = subprocess.run(
        [PYTHON, *sweep_args(glue_fixture_dir, tmp_path, "joined"),
         "--address", token_head.address],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (
        f"Token authentication: the cluster at {token_head.address} asks for a token; "
        f"using {token_head.token_path} (RAY_AUTH_MODE=token set for this run)"
    ) in run.stdout
    assert f"Ray: {token_head.address}" in run.stdout
    assert "(2 completed)" in run.stdout
    assert_two_trials_completed(tmp_path / "joined")


@pytest.mark.parametrize("token, expected", [
    ("wrong", "rejected the token from"),
    (None, "uses token authentication and no token was found"),
])
def test_a_missing_or_wrong_token_is_one_line_and_exit_2(token_head, glue_fixture_dir,
                                                         tmp_path, token, expected):
    token_file = tmp_path / "token"
    if token is not None:
        token_file.write_text(token)
    env = clean_env(RAY_AUTH_TOKEN_PATH=str(token_file))
    start = time.monotonic()
    run = subprocess.run(
        [PYTHON, *sweep_args(glue_fixture_dir, tmp_path, "refused"),
         "--address", token_head.address],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    elapsed = time.monotonic() - start
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"run_sweep.py: error: --address {token_head.address}: ")
    assert expected in last and "RAY_AUTH_TOKEN_PATH" in last
    assert "Traceback" not in run.stderr and "usage:" not in run.stderr
    assert "InvalidAuthToken" not in run.stderr  # no retry loop of ray.init
    assert not (tmp_path / "refused").exists()
    assert elapsed < 60


def test_ray_job_submit_runs_a_sweep_with_the_project_interpreter(
    token_head, glue_fixture_dir, tmp_path
):
    """docs/cluster.md's ``ray job submit``: the working dir without .venv, the venv's
    interpreter by absolute path, ``--address auto`` inside the job."""
    if importlib.util.find_spec("aiohttp") is None:
        pytest.skip("ray job submit needs Ray's dashboard: install ray[default]")
    storage = tmp_path / "job"
    command = [
        str(RAY_CLI), "job", "submit",
        "--address", f"http://127.0.0.1:{token_head.dashboard_port}",
        "--working-dir", ".",
        "--runtime-env-json", json.dumps({"excludes": [".venv/", ".git/"]}),
        "--", PYTHON, *sweep_args(glue_fixture_dir, storage, "submitted"), "--address", "auto",
    ]
    env = clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_head.token_path))
    # the job's driver runs in a session of its own: the teardown finds it by this path
    token_head.markers.append(str(storage))
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=400)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    assert re.search(r"Job '\S+' succeeded", output), output[-3000:]
    assert re.search(rf"Running entrypoint for job \S+: {re.escape(PYTHON)} "
                     r"experiments/run_sweep.py", output)
    uploads = [p for p in token_head.temp_dir.glob(
        "session_*/runtime_resources/working_dir_files/_ray_pkg_*") if p.is_dir()]
    assert uploads, "no working dir was uploaded"
    for upload in uploads:
        assert (upload / "tune_seeds").is_dir() and (upload / "experiments").is_dir()
        assert not (upload / ".venv").exists() and not (upload / ".git").exists()
        size = sum(f.stat().st_size for f in upload.rglob("*") if f.is_file())
        assert size < 20 * 2**20, f"{upload}: {size / 2**20:.1f} MiB uploaded"
    assert "(2 completed)" in output
    assert_two_trials_completed(storage / "submitted")
