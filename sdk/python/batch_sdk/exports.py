"""batch_sdk → exports: turns a role class into the classes componentize-py exports.

A plugin module ends with one line that names the classes of its world, for example::

    Lifecycle, ItemProcessor = batch_sdk.export_processor(MemberProcessor)

The generated bindings (``wit_world``) exist only inside a componentize-py build, so they are
imported when a call arrives, never at import time: the module stays importable by plain
Python for unit tests."""

import json
from typing import Any, Callable

from .context import ExecutionContext, Setup, StepSummary
from .errors import Error
from .roles import RepeatStatus


def _wire_error(e: BaseException):
    from wit_world.imports.types import PluginError

    err = Error.from_exception(e)
    return PluginError(str(err.kind), str(err.message))


def _call(f: Callable, *args: Any) -> Any:
    """Runs ``f``; any exception leaves as the WIT ``plugin-error`` of a ``result``."""
    try:
        return f(*args)
    except Exception as e:  # noqa: BLE001 - every failure crosses the boundary as a plugin-error
        from componentize_py_types import Err

        raise Err(_wire_error(e)) from None


def encode(value: Any, raw: bool) -> bytes:
    """An item for the next plugin: bytes as they are, anything else as compact JSON (UTF-8,
    no ASCII escaping, the same bytes serde_json writes for strings)."""
    if raw:
        if not isinstance(value, (bytes, bytearray)):
            raise Error("item.encode", f"a raw_items plugin returns bytes, not {type(value).__name__}")
        return bytes(value)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise Error("item.encode", str(e)) from None


def decode(data: bytes, raw: bool) -> Any:
    """An item from the previous plugin: bytes, or the JSON value they hold."""
    if raw:
        return data
    try:
        return json.loads(data)
    except ValueError as e:
        raise Error("item.decode", str(e)) from None


class _Slot:
    """The one plugin instance of a component, created by ``init``."""

    def __init__(self, cls: type):
        self.cls = cls
        self.plugin = None

    def init(self, setup) -> None:
        plugin = self.cls()
        plugin.init(Setup.from_wire(setup))
        self.plugin = plugin

    def get(self):
        if self.plugin is None:
            raise Error("plugin.lifecycle", "called before init")
        return self.plugin


def _lifecycle(slot: _Slot) -> type:
    class Lifecycle:
        def init(self, setup) -> None:
            _call(slot.init, setup)

    return Lifecycle


def _exit_status(status):
    if status is None:
        return None
    from wit_world.imports.types import ExitStatus

    return ExitStatus(str(status.code), str(status.description))


def _item_stream(slot: _Slot) -> type:
    class ItemStream:
        def open(self, context) -> None:
            _call(lambda: slot.get().open(ExecutionContext.from_wire(context)))

        def update(self) -> list:
            from wit_world.imports.types import ContextEntry

            def run():
                ctx = slot.get().update()
                if isinstance(ctx, dict):
                    ctx = ExecutionContext(ctx)
                return ctx.to_wire(ContextEntry)

            return _call(run)

        def after_step(self, step):
            try:
                return _exit_status(slot.get().after_step(StepSummary.from_wire(step)))
            except Exception:  # noqa: BLE001 - after-step has no error channel; keep the host's status
                return None

        def close(self) -> None:
            _call(lambda: slot.get().close())

    return ItemStream


def export_processor(cls: type) -> tuple:
    """The ``Lifecycle`` and ``ItemProcessor`` classes of the processor world."""
    slot = _Slot(cls)

    def one(item: bytes):
        p = slot.get()
        out = p.process(decode(item, p.raw_items))
        return None if out is None else encode(out, p.raw_items)

    class ItemProcessor:
        def process(self, item: bytes):
            return _call(one, item)

        def process_batch(self, items: list) -> list:
            from wit_world.exports import item_processor as wit

            outcomes = []
            for item in items:
                try:
                    out = one(item)
                    outcomes.append(wit.ProcessOutcome_Filtered() if out is None else wit.ProcessOutcome_Item(out))
                except Exception as e:  # noqa: BLE001 - one item's failure is that item's outcome
                    outcomes.append(wit.ProcessOutcome_Error(_wire_error(e)))
            return outcomes

    return _lifecycle(slot), ItemProcessor


def export_reader(cls: type) -> tuple:
    """The ``Lifecycle``, ``ItemStream`` and ``ItemReader`` classes of the reader world."""
    slot = _Slot(cls)

    def one():
        p = slot.get()
        out = p.read()
        return None if out is None else encode(out, p.raw_items)

    class ItemReader:
        def read(self):
            return _call(one)

        def read_batch(self, max: int):
            from wit_world.exports import item_reader as wit

            outcomes = []
            while len(outcomes) < max:
                try:
                    out = one()
                except Exception as e:  # noqa: BLE001 - a failed read consumes its item
                    outcomes.append(wit.ReadOutcome_Error(_wire_error(e)))
                    continue
                if out is None:
                    return wit.Batch(outcomes, True)
                outcomes.append(wit.ReadOutcome_Item(out))
            return wit.Batch(outcomes, False)

    return _lifecycle(slot), _item_stream(slot), ItemReader


def export_writer(cls: type) -> tuple:
    """The ``Lifecycle``, ``ItemStream``, ``ItemWriter`` and ``ChunkListener`` classes of the
    writer world."""
    slot = _Slot(cls)

    class ItemWriter:
        def write(self, items: list) -> None:
            def run():
                p = slot.get()
                p.write([decode(i, p.raw_items) for i in items])

            _call(run)

    class ChunkListener:
        def before_chunk(self) -> None:
            _call(lambda: slot.get().before_chunk())

        def after_chunk(self) -> None:
            _call(lambda: slot.get().after_chunk())

        def after_chunk_error(self) -> None:
            _call(lambda: slot.get().after_chunk_error())

    return _lifecycle(slot), _item_stream(slot), ItemWriter, ChunkListener


def export_tasklet(cls: type) -> tuple:
    """The ``Lifecycle`` and ``StepTasklet`` classes of the tasklet world."""
    slot = _Slot(cls)

    class StepTasklet:
        def execute(self, context):
            from wit_world.exports import step_tasklet as wit
            from wit_world.imports.types import ContextEntry

            def run():
                p = slot.get()
                ctx = ExecutionContext.from_wire(context)
                repeat = p.execute(ctx)
                if repeat is None or repeat is True:
                    repeat = RepeatStatus.FINISHED
                if repeat is False:
                    repeat = RepeatStatus.CONTINUABLE
                if not isinstance(repeat, RepeatStatus):
                    raise Error("plugin.protocol", f"execute returns a RepeatStatus, not {repeat!r}")
                finished = repeat is RepeatStatus.FINISHED
                status = _exit_status(p.exit_status()) if finished else None
                kind = wit.RepeatStatus.FINISHED if finished else wit.RepeatStatus.CONTINUABLE
                return wit.Execution(kind, ctx.to_wire(ContextEntry), status)

            return _call(run)

    return _lifecycle(slot), StepTasklet


def export_decider(cls: type) -> tuple:
    """The ``Lifecycle`` and ``FlowDecider`` classes of the decider world."""
    slot = _Slot(cls)

    class FlowDecider:
        def decide(self, job_context, last_step) -> str:
            def run():
                ctx = ExecutionContext.from_wire(job_context)
                last = None if last_step is None else StepSummary.from_wire(last_step)
                return str(slot.get().decide(ctx, last))

            return _call(run)

    return _lifecycle(slot), FlowDecider
