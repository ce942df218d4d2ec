"""Which fine-tuning service a job goes to, its client, and its errors as one line each.

The service is chosen by `base_url` alone (ftui.yaml's `hosted:` section or the command line), so
any OpenAI-compatible provider will do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ftui.core.base.errors import FtuiError
from ftui.core.workspace.settings import HostedConfig, SettingError

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace


class HostedError(FtuiError):
    """`service` errors came back from the fine-tuning service; the others are the user's input."""

    def __init__(self, message: str, service: bool = False, unreachable: bool = False):
        super().__init__(message)
        self.service = service
        # No answer at all (a restart, a dropped tunnel): worth polling again, unlike a refusal.
        self.unreachable = unreachable


# Where a job goes: the workspace's `hosted:` section with the command line's overrides applied.
Target = HostedConfig


def target_for(
    ws: Workspace,
    base_url: str | None = None,
    model: str | None = None,
    epochs: int | None = None,
    suffix: str | None = None,
) -> Target:
    """The workspace's `hosted:` section with command-line overrides applied."""
    cfg = getattr(ws, "hosted", None)
    base_url = base_url or (cfg.base_url if cfg else None)
    model = model or (cfg.model if cfg else None)
    where = ws.config_path
    if not base_url:
        raise HostedError(
            f"{where}: no fine-tuning service: add `hosted: {{base_url: ..., model: ...}}` or give --base-url"
        )
    if not model:
        raise HostedError(f"{where}: no base model for the hosted job: set `hosted.model` or give --model")
    try:
        return Target(
            base_url=base_url.rstrip("/"),
            model=model,
            api_key_env=cfg.api_key_env if cfg else "OPENAI_API_KEY",
            n_epochs=epochs if epochs is not None else (cfg.n_epochs if cfg else None),
            suffix=suffix if suffix is not None else (cfg.suffix if cfg else None),
        )
    except SettingError as exc:  # only --epochs can break it: the workspace's own value was checked on load
        raise HostedError(f"--epochs {exc.problems[0][1]}, not {epochs}") from None


def api_key(api_key_env: str) -> str:
    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise HostedError(f"no API key: the environment variable {api_key_env} is not set")
    return key


def client_for(base_url: str, api_key_env: str, timeout: float = 60.0, max_retries: int = 2) -> Any:
    key = api_key(api_key_env)
    from openai import OpenAI  # the client costs ~0.5 s to import; only hosted commands pay it

    return OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=max_retries)


def service_error(exc: BaseException, base_url: str) -> HostedError:
    """One line for anything the client raised: HTTP status and the service's own message."""
    from openai import APIConnectionError, APIStatusError

    if isinstance(exc, APIStatusError):
        body = exc.body
        msg = None
        if isinstance(body, dict):
            inner = body.get("error")
            msg = (inner if isinstance(inner, dict) else body).get("message")
        msg = msg or exc.message
        return HostedError(f"{base_url}: HTTP {exc.status_code}: {msg}", service=True)
    if isinstance(exc, APIConnectionError):
        return HostedError(f"{base_url}: cannot reach the service ({exc.message})", service=True, unreachable=True)
    return HostedError(f"{base_url}: {exc}", service=True)


@contextmanager
def calling(base_url: str) -> Iterator[None]:
    from openai import OpenAIError

    try:
        yield
    except OpenAIError as exc:
        raise service_error(exc, base_url) from None
