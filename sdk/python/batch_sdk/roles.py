"""batch_sdk → roles: the base classes a plugin subclasses, one per role (Spring Batch's
ItemReader + ItemStream, ItemProcessor, ItemWriter + ChunkListener, Tasklet, JobExecutionDecider).

Items are JSON values by default: a reader returns dicts, lists, strings or numbers, a processor
receives and returns them, a writer receives a list of them. Set ``raw_items = True`` on the
class to receive and return ``bytes`` instead."""

import enum
from dataclasses import dataclass
from typing import Any, Optional

from .context import ExecutionContext, ExitStatus, Setup, StepSummary


class Plugin:
    """What every role shares: ``init`` with the job.yaml ``config`` and the job parameters."""

    #: True to receive and return items as ``bytes`` instead of JSON values.
    raw_items = False

    def init(self, setup: Setup) -> None:
        """Called once before any other call. Raise ``Error.config`` for a bad config."""
        self.setup = setup


class Stream(Plugin):
    """Spring's ItemStream: save your position in ``update``, restore it in ``open``."""

    def open(self, context: ExecutionContext) -> None:
        """Opens the input or output; ``context`` is what ``update`` returned at the last
        committed chunk (empty on a first run)."""

    def update(self) -> ExecutionContext:
        """The state to save with the chunk that is about to commit."""
        return ExecutionContext()

    def after_step(self, step: StepSummary) -> Optional[ExitStatus]:
        """The step completed: return an ExitStatus to replace the host's, or None."""
        return None

    def close(self) -> None:
        """Releases resources at the end of the step."""


class Reader(Stream):
    """Produces the items of a step. Reads are forward-only: an item whose read raises is
    consumed."""

    def read(self) -> Any:
        """The next item, or None at the end of the input."""
        raise NotImplementedError("a Reader implements read()")


class Processor(Plugin):
    """Transforms, filters (return None: FILTER_COUNT) or fails (raise Error) one item."""

    def process(self, item: Any) -> Any:
        raise NotImplementedError("a Processor implements process(item)")


class Writer(Stream):
    """Writes one chunk of items; make the output transactional with the chunk hooks."""

    def write(self, items: list) -> None:
        raise NotImplementedError("a Writer implements write(items)")

    def before_chunk(self) -> None:
        """A chunk transaction begins."""

    def after_chunk(self) -> None:
        """The chunk committed: what was written since ``before_chunk`` is final."""

    def after_chunk_error(self) -> None:
        """The chunk rolled back: discard what was written since ``before_chunk``."""


class RepeatStatus(enum.Enum):
    """Whether the host calls ``Tasklet.execute`` again (Spring Batch's RepeatStatus)."""

    FINISHED = "finished"
    CONTINUABLE = "continuable"


class Tasklet(Plugin):
    """One unit of work that is not item-oriented; ``execute`` runs until it returns
    ``RepeatStatus.FINISHED``, each call in its own transaction, the context committed after it."""

    def execute(self, context: ExecutionContext) -> RepeatStatus:
        """Does (part of) the work; change ``context`` to save progress."""
        raise NotImplementedError("a Tasklet implements execute(context)")

    def exit_status(self) -> Optional[ExitStatus]:
        """The step's exit status once it completes; None keeps COMPLETED."""
        return None


class Decider(Plugin):
    """Chooses where the flow goes next: the returned code is matched against ``next``."""

    def decide(self, job_context: ExecutionContext, last_step: Optional[StepSummary]) -> str:
        raise NotImplementedError("a Decider implements decide(job_context, last_step)")
