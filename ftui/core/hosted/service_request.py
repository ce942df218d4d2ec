"""What `ftui service` accepts before it does any work: a job request's schema (types, ranges,
lengths, as OpenAI's API reference documents them), the service's limits, and the throttle on
failed authentication.

Every refusal is a `ServiceError` naming the parameter, so a client gets OpenAI's 400 body with
`param` set, never a traceback.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ftui.core.base.errors import FtuiError


class ServiceError(FtuiError):
    """A refused request: HTTP status and OpenAI's error fields."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:  # raised in a checker process, re-raised in the service
        return (type(self), (self.status, self.message, self.param, self.code))

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.param, self.code)


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, for every answer that is not a success."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# OpenAI's Files API takes files up to 512 MB.
UPLOAD_LIMIT_BYTES = 512 * 1024 * 1024
# Steps one job may train: a job over it is refused at creation, so no request holds the training
# slot for every key for days. About a day of a small model's steps on one CPU.
MAX_JOB_STEPS = 20_000
# Jobs one key may have queued or running at once; the rest of its requests wait their turn as 429s.
MAX_ACTIVE_PER_KEY = 6

# The ranges of OpenAI's API reference (fine-tuning, create job).
N_EPOCHS = (1, 50)
BATCH_SIZE = (1, 256)
BETA_MAX = 2.0
SEED_MAX = 2_147_483_647
MAX_SUFFIX = 64
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512
# A file id is ours (`file-` and hex); anything longer is not one of ours, and need not be read.
MAX_ID = 64
SUFFIX_RE = re.compile(r"[A-Za-z0-9_.-]+")
# Methods this service trains, as OpenAI names them -> ftui's training method. A method added here
# (reinforcement) needs its hyperparameters in HYPERPARAMETERS (and their ranges in `_hyper`), its
# upload format in service_files.UPLOAD_FORMAT, its build files in core/build/files.py and their format in
# service.BUILD_FORMAT.
METHOD_OF = {"supervised": "sft", "dpo": "dpo"}
HYPERPARAMETERS = {
    "supervised": ("n_epochs", "batch_size", "learning_rate_multiplier"),
    "dpo": ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"),
}
FIELDS = (
    "model",
    "training_file",
    "validation_file",
    "hyperparameters",
    "method",
    "suffix",
    "seed",
    "metadata",
    "integrations",
)


@dataclass(frozen=True)
class Limits:
    """What one request and one key may ask of the service; set by `ftui service`'s options."""

    upload_bytes: int = UPLOAD_LIMIT_BYTES
    max_job_steps: int = MAX_JOB_STEPS
    max_active_per_key: int = MAX_ACTIVE_PER_KEY


@dataclass
class JobRequest:
    """A job request that passed the schema: every field of the right type and in range."""

    model: str
    training_file: str
    validation_file: str | None
    method: str
    # name -> value, or None for "auto"
    hyperparameters: dict[str, int | float | None]
    suffix: str | None
    seed: int | None
    metadata: dict[str, str] | None = field(default=None)


def _bad(param: str, message: str) -> ServiceError:
    return ServiceError(400, f"Invalid value for '{param}': {message}", param, "invalid_request_error")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _string(body: dict[str, Any], name: str, *, required: bool, max_len: int = MAX_ID) -> str | None:
    v = body.get(name)
    if v is None:
        if required:
            raise ServiceError(400, f"Missing required parameter: '{name}'.", name, "missing_required_parameter")
        return None
    if not isinstance(v, str):
        raise _bad(name, f"expected a string, got {type(v).__name__}")
    if not v or len(v) > max_len:
        raise _bad(name, f"expected 1 to {max_len} characters, got {len(v)}")
    return v


def _hyper(name: str, v: Any) -> int | float | None:
    """One hyperparameter: "auto" (None here) or a number in OpenAI's range."""
    if v is None or v == "auto":
        return None
    if name in ("n_epochs", "batch_size"):
        lo, hi = N_EPOCHS if name == "n_epochs" else BATCH_SIZE
        if not _is_int(v) or not lo <= v <= hi:
            raise _bad(name, f"expected 'auto' or an integer from {lo} to {hi}")
        return int(v)
    if name == "learning_rate_multiplier":
        if not _is_number(v) or v <= 0:
            raise _bad(name, "expected 'auto' or a number above 0")
        return float(v)
    if not _is_number(v) or not 0 < v <= BETA_MAX:  # beta
        raise _bad(name, f"expected 'auto' or a number above 0, at most {BETA_MAX}")
    return float(v)


def _hyperparameters(value: Any, where: str, method: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(where, f"expected an object, got {type(value).__name__}")
    known = HYPERPARAMETERS[method]
    for name in value:
        if name not in known:
            raise ServiceError(400, f"Unknown hyperparameter {name!r} for {method} jobs.", str(name))
    return {name: _hyper(name, v) for name, v in value.items()}


def _method(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The method type and the hyperparameters given inside `method`."""
    value = body.get("method")
    if value is None:
        return "supervised", {}
    if not isinstance(value, dict):
        raise _bad("method", f"expected an object, got {type(value).__name__}")
    mtype = value.get("type")
    if not isinstance(mtype, str) or mtype not in METHOD_OF:
        raise ServiceError(
            400, f"method type must be one of {', '.join(METHOD_OF)}, not {mtype!r}", "method", "invalid_request_error"
        )
    for key in value:
        if key not in ("type", mtype):
            raise _bad(f"method.{key}", f"not a field of a {mtype} method")
    inner = value.get(mtype)
    if inner is None:
        return mtype, {}
    if not isinstance(inner, dict):
        raise _bad(f"method.{mtype}", f"expected an object, got {type(inner).__name__}")
    for key in inner:
        if key != "hyperparameters":
            raise _bad(f"method.{mtype}.{key}", f"not a field of a {mtype} method")
    return mtype, _hyperparameters(inner.get("hyperparameters"), f"method.{mtype}.hyperparameters", mtype)


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > METADATA_PAIRS:
        raise _bad("metadata", f"expected an object of at most {METADATA_PAIRS} string pairs")
    for k, v in value.items():
        if not isinstance(v, str) or len(k) > METADATA_KEY or len(v) > METADATA_VALUE:
            raise _bad(
                "metadata", f"keys up to {METADATA_KEY} characters, values strings up to {METADATA_VALUE} characters"
            )
    return dict(value)


def parse_job_request(body: Any) -> JobRequest:
    """A job request's body checked against OpenAI's schema, before any file is read."""
    if not isinstance(body, dict):
        raise ServiceError(400, "the request body must be a JSON object")
    for name in body:
        if name not in FIELDS:
            raise ServiceError(400, f"Unrecognized request argument supplied: {name}", str(name))
    model = _string(body, "model", required=True, max_len=256)
    training_file = _string(body, "training_file", required=True)
    validation_file = _string(body, "validation_file", required=False)
    mtype, inner = _method(body)
    hyper = _hyperparameters(body.get("hyperparameters"), "hyperparameters", mtype)
    hyper.update(inner)
    suffix = body.get("suffix")
    if suffix is not None and (
        not isinstance(suffix, str) or len(suffix) > MAX_SUFFIX or not SUFFIX_RE.fullmatch(suffix)
    ):
        raise _bad("suffix", f"expected at most {MAX_SUFFIX} letters, digits, '-', '_' or '.'")
    seed = body.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= SEED_MAX):
        raise _bad("seed", f"expected an integer from 0 to {SEED_MAX}")
    integrations = body.get("integrations")
    if integrations not in (None, []):
        raise _bad("integrations", "this service runs no integrations")
    assert model is not None and training_file is not None  # required above
    return JobRequest(
        model=model,
        training_file=training_file,
        validation_file=validation_file,
        method=mtype,
        hyperparameters=hyper,
        suffix=suffix,
        seed=seed,
        metadata=_metadata(body.get("metadata")),
    )


class AuthThrottle:
    """Failed authentications per client address: past `limit` within `window_s`, every request from
    that address is refused until the window passes, so keys cannot be guessed at network speed."""

    def __init__(self, limit: int = 20, window_s: float = 60.0, clock: Any = time.monotonic):
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        q = self._fails.setdefault(client, deque())
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def blocked(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may now."""
        with self._lock:
            now = self.clock()
            q = self._recent(client, now)
            if len(q) < self.limit:
                if not q:
                    self._fails.pop(client, None)
                return 0.0
            return max(0.0, float(self.window_s - (now - q[0])))

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            q = self._recent(client, now)
            q.append(now)
            if len(self._fails) > 10_000:  # many addresses: forget the quiet ones first
                for c in [c for c, d in self._fails.items() if not d or now - d[-1] > self.window_s]:
                    del self._fails[c]
