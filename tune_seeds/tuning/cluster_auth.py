"""Token authentication when joining a running Ray cluster.

Ray 2.60 turns token authentication on for clusters it starts: ``ray start --head``
does so whenever a token exists (``~/.ray/auth_token``, ``RAY_AUTH_TOKEN_PATH`` or
``RAY_AUTH_TOKEN``), ``ray.init()`` always. A driver joining by an explicit address
(``ray.init(address="host:port")``) does not: with ``RAY_AUTH_MODE`` unset it sends
no token, and the GCS answers ``InvalidAuthToken`` to every retry for 20 s before
``ray.init`` fails with a traceback.

:func:`prepare_token_auth` asks the cluster's GCS once, with a short timeout, before
``ray.init``. If the cluster wants a token, ``RAY_AUTH_MODE`` is unset and a token
is available, it sets ``RAY_AUTH_MODE=token`` (Ray's documented switch) for this
process and asks again; a missing or rejected token is a :class:`ClusterAuthError`
that says how to provide one.
"""

from __future__ import annotations

import os
from pathlib import Path

MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_PATH = Path.home() / ".ray" / "auth_token"
HOW_TO = (
    "copy the head node's ~/.ray/auth_token to ~/.ray/auth_token here (`ray get-auth-token` "
    "on the head prints it), or set RAY_AUTH_TOKEN to the token or RAY_AUTH_TOKEN_PATH to "
    "its file"
)


class ClusterAuthError(ValueError):
    """The cluster asks for a token that this process cannot give; the message says why."""


def token_source() -> str | None:
    """Where Ray would read the token from (its order), or None if there is none."""
    if os.environ.get(TOKEN_ENV, "").strip():
        return f"${TOKEN_ENV}"
    custom = os.environ.get(TOKEN_PATH_ENV)
    path = Path(custom) if custom else DEFAULT_TOKEN_PATH
    try:
        return str(path) if path.read_text().strip() else None
    except OSError:
        return None


def enable_token_mode() -> None:
    """``RAY_AUTH_MODE=token`` for this process and its children, as Ray itself does it."""
    os.environ[MODE_ENV] = "token"
    try:  # Ray caches its config in C++; Ray refreshes it the same way
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):
        pass


def gcs_accepts(host: str, port: int, timeout_s: float = 5.0) -> bool | None:
    """Whether the GCS at ``host:port`` accepts this process's credentials.

    One ``GetClusterId`` call through Ray's own channel (with its token interceptor
    when token authentication is on). None where it cannot tell (no answer in time,
    not a GCS, Ray's internals moved): ``ray.init`` then reports the problem itself.
    """
    try:
        import grpc
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
        from ray.exceptions import AuthenticationError
    except ImportError:
        return None
    try:
        channel = init_grpc_channel(f"{host}:{port}")
    except Exception:  # e.g. an unreadable RAY_AUTH_TOKEN_PATH; ray.init says it better
        return None
    try:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=timeout_s)
    except grpc.RpcError as err:
        return False if err.code() == grpc.StatusCode.UNAUTHENTICATED else None
    except AuthenticationError:  # token mode on, but the token file is missing or empty
        return False
    finally:
        channel.close()
    return True


def prepare_token_auth(host: str, port: int, timeout_s: float = 5.0) -> str | None:
    """Make this process authenticate to the cluster whose GCS is at ``host:port``.

    Returns a one-line notice when it turned token authentication on, None when
    nothing was needed. Raises :class:`ClusterAuthError` when the cluster rejects
    this process: no token, a wrong one, or ``RAY_AUTH_MODE`` set to something else.
    """
    where = f"{host}:{port}"
    if gcs_accepts(host, port, timeout_s) is not False:
        return None
    mode = os.environ.get(MODE_ENV)
    source = token_source()
    if mode is not None and mode.lower() != "token":
        fix = f"the token is in {source}" if source else HOW_TO
        raise ClusterAuthError(
            f"the Ray cluster at {where} uses token authentication but {MODE_ENV}={mode}: "
            f"unset it or set {MODE_ENV}=token ({fix})"
        )
    if source is None:
        raise ClusterAuthError(
            f"the Ray cluster at {where} uses token authentication and no token was found: "
            + HOW_TO
        )
    notice = None
    if mode is None:
        enable_token_mode()
        notice = (
            f"Token authentication: the cluster at {where} asks for a token; using {source} "
            f"({MODE_ENV}=token set for this run)"
        )
        if gcs_accepts(host, port, timeout_s) is not False:
            return notice
    raise ClusterAuthError(
        f"the Ray cluster at {where} rejected the token from {source} (not this cluster's "
        f"token?): {HOW_TO}"
    )


def enable_if_token_available() -> str | None:
    """For Ray Client (``ray://``), where there is no GCS to ask: the same switch
    whenever a token is available and ``RAY_AUTH_MODE`` is unset."""
    source = token_source()
    if os.environ.get(MODE_ENV) is not None or source is None:
        return None
    enable_token_mode()
    return f"Token authentication: using {source} ({MODE_ENV}=token set for this run)"
