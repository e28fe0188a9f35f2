"""Where a sweep runs: an embedded Ray (with its dashboard) or an existing cluster.

:func:`check_address` refuses an unreachable cluster before anything starts, with
token authentication prepared when the cluster asks for it
(:mod:`tune_seeds.tuning.cluster_auth`); :func:`connect` starts or joins Ray and says
where its dashboard is.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray._private.services import canonicalize_bootstrap_address

from tune_seeds.tuning.cluster_auth import (
    ClusterAuthError,
    enable_if_token_available,
    prepare_token_auth,
)


def check_address(
    address: str, timeout_s: float = 3.0, out: Callable[[str], Any] = print
) -> str:
    """The address to pass to ``ray.init``, after checking a cluster answers there.

    ``auto`` looks for a cluster started on this machine (``ray start``) or named
    by ``RAY_ADDRESS``. Raises ``ValueError`` with a clear message otherwise, so
    that nothing is started for an unreachable cluster. A cluster with token
    authentication gets this process's token (:mod:`tune_seeds.tuning.cluster_auth`;
    ``out`` says so), or a ``ValueError`` saying how to provide one.
    """
    if address == "auto":
        try:
            found = canonicalize_bootstrap_address("auto")
        except Exception as err:  # Ray raises ConnectionError or ValueError here
            raise ValueError(f"--address auto: no running Ray cluster found ({err})") from err
        if found is None:
            raise ValueError(
                "--address auto: no running Ray cluster found on this machine "
                "(start one with `ray start --head`, or drop --address for an embedded Ray)"
            )
        host_port = found
    else:
        host_port = address.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--address {address!r}: expected auto, host:port or ray://host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise ValueError(f"--address {address!r}: cannot reach {host}:{port} ({err})") from err
    try:
        if address.startswith("ray://"):
            notice = enable_if_token_available()
        else:
            notice = prepare_token_auth(host, int(port), timeout_s=max(timeout_s, 5.0))
    except ClusterAuthError as err:
        raise ClusterAuthError(f"--address {address}: {err}") from None
    if notice:
        out(notice)
    return address


@dataclass(frozen=True)
class RayInfo:
    """Where the sweep runs and how to look at it."""

    address: str | None
    dashboard_url: str | None
    token_path: Path | None

    def describe(self) -> str:
        lines = [f"Ray: {'embedded local instance' if self.address is None else self.address}"]
        if self.dashboard_url is None:
            lines.append("Dashboard: off")
            return "\n".join(lines)
        lines.append(f"Dashboard: {self.dashboard_url}")
        if self.token_path is not None:
            lines.append(
                f"  token authentication is on: the token is in {self.token_path} "
                "(`ray get-auth-token` prints it); paste it at the login prompt, or send "
                "`Authorization: Bearer <token>` to the REST API, e.g.\n"
                f"  curl -H \"Authorization: Bearer $(cat {self.token_path})\" "
                f"{self.dashboard_url}/api/v0/actors"
            )
        return "\n".join(lines)


def token_auth_enabled() -> bool:
    return os.environ.get("RAY_AUTH_MODE", "").lower() == "token"


def token_path() -> Path:
    """Where Ray keeps the token: ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``."""
    custom = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(custom) if custom else Path.home() / ".ray" / "auth_token"


def connect(
    address: str | None = None,
    dashboard: bool = True,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    dashboard_port: int | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> RayInfo:
    """Start an embedded Ray, or join the cluster at ``address``.

    The embedded instance is isolated (``address="local"``) so that it never
    joins another cluster running on the machine by accident; its dashboard
    listens on 127.0.0.1 only, on ``dashboard_port`` or else the first free
    port from 8265 on. ``runtime_env`` applies to this job's workers.
    """
    if address is None:
        context = ray.init(
            address="local", num_cpus=num_cpus, num_gpus=num_gpus,
            include_dashboard=dashboard, dashboard_host="127.0.0.1",
            dashboard_port=dashboard_port, runtime_env=runtime_env,
        )
    else:
        context = ray.init(address=address, runtime_env=runtime_env)
    url = getattr(context, "dashboard_url", None) or None
    if url is not None and not url.startswith("http"):
        url = f"http://{url}"
    # Ray 2.60 sets RAY_AUTH_MODE=token in this process when it enables tokens.
    token = token_path() if url is not None and token_auth_enabled() else None
    return RayInfo(address, url if dashboard or address else None, token)
