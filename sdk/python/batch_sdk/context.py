"""batch_sdk → context: what a plugin learns in ``init`` (Setup) and its ExecutionContext."""

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from .errors import Error


@dataclass(frozen=True)
class JobParameter:
    """One job parameter of the current run."""

    name: str
    value: str
    type_name: str
    identifying: bool


@dataclass
class Setup:
    """What a plugin receives before its first call: its job.yaml ``config`` and the job
    parameters."""

    config: dict = field(default_factory=dict)
    params: list = field(default_factory=list)
    job_name: str = "test-job"
    step_name: str = "test-step"

    def param(self, name: str) -> Optional[str]:
        """The value of job parameter ``name``, or None."""
        for p in self.params:
            if p.name == name:
                return p.value
        return None

    def config_fields(self, **defaults: Any) -> dict:
        """The config with ``defaults`` filled in; a key not among ``defaults`` is a ``config``
        error naming it, so a typo in job.yaml never passes silently. Keys may be written
        ``email-field`` or ``email_field``; the result uses the ``_`` spelling."""
        out = dict(defaults)
        for key, value in self.config.items():
            name = key.replace("-", "_")
            if name not in defaults:
                known = ", ".join(f"`{k.replace('_', '-')}`" for k in defaults) or "none"
                raise Error.config(f"invalid plugin config: unknown field `{key}`, expected one of {known}")
            out[name] = value
        return out

    @staticmethod
    def from_wire(s) -> "Setup":
        text = s.config.strip()
        try:
            config = json.loads(text) if text else {}
        except ValueError as e:
            raise Error.config(f"config is not JSON: {e}") from None
        if not isinstance(config, dict):
            raise Error.config("config must be a mapping")
        params = [JobParameter(p.name, p.value, p.type, p.identifying) for p in s.params]
        return Setup(config, params, s.job_name, s.step_name)


class ExecutionContext:
    """Spring Batch's ExecutionContext: string keys, JSON values.

    A reader or writer returns one from ``update`` (the host saves it with each committed
    chunk) and receives the last saved one in ``open`` after a restart."""

    def __init__(self, entries: Optional[dict] = None):
        self._entries = dict(entries or {})

    def put(self, key: str, value: Any) -> "ExecutionContext":
        """Stores ``value`` (anything JSON can encode) under ``key``."""
        self._entries[key] = value
        return self

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` when absent."""
        return self._entries.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> Iterable:
        return self._entries.items()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutionContext) and other._entries == self._entries

    def __repr__(self) -> str:
        return f"ExecutionContext({self._entries!r})"

    @staticmethod
    def from_wire(entries) -> "ExecutionContext":
        ctx = ExecutionContext()
        for e in entries:
            try:
                ctx._entries[e.key] = json.loads(e.value)
            except ValueError as err:
                raise Error("context.decode", f"key `{e.key}`: {err}") from None
        return ctx

    def to_wire(self, entry_type) -> list:
        out = []
        for key, value in sorted(self._entries.items()):
            try:
                text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise Error("context.encode", f"execution context key `{key}`: {e}") from None
            out.append(entry_type(key, text))
        return out


@dataclass(frozen=True)
class ExitStatus:
    """Spring Batch's ExitStatus: a code that flow transitions route on, and a description."""

    code: str
    description: str = ""


@dataclass(frozen=True)
class StepSummary:
    """What an ``after_step`` hook or a decider learns about a step execution."""

    name: str
    status: str
    exit_status: ExitStatus
    read_count: int
    write_count: int
    filter_count: int
    skip_count: int
    commit_count: int
    rollback_count: int

    @staticmethod
    def from_wire(s) -> "StepSummary":
        return StepSummary(
            s.name,
            s.status,
            ExitStatus(s.exit_status.code, s.exit_status.description),
            s.read_count,
            s.write_count,
            s.filter_count,
            s.skip_count,
            s.commit_count,
            s.rollback_count,
        )
