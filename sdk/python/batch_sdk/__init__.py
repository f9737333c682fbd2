"""batch-sdk for Python: write batch-host plugins as componentize-py components.

Subclass the role (``Reader``, ``Processor``, ``Writer``, ``Tasklet``, ``Decider``), raise
``Error`` with a dotted kind for a failure the job's fault-tolerance rules can skip or retry,
and export the class at the end of the module::

    import batch_sdk

    class Upper(batch_sdk.Processor):
        def process(self, item):
            item["name"] = item["name"].upper()
            return item

    Lifecycle, ItemProcessor = batch_sdk.export_processor(Upper)

``batch-host plugin build`` turns the module into a component of the role's world.
"""

from .context import ExecutionContext, ExitStatus, JobParameter, Setup, StepSummary
from .errors import Error
from .exports import export_decider, export_processor, export_reader, export_tasklet, export_writer
from .log import debug, error, info, log, warn
from .roles import Decider, Plugin, Processor, Reader, RepeatStatus, Stream, Tasklet, Writer

__version__ = "0.1.0"
#: The batch:plugin contract this SDK implements.
CONTRACT = "batch:plugin@0.1.0"

__all__ = [
    "CONTRACT",
    "Decider",
    "Error",
    "ExecutionContext",
    "ExitStatus",
    "JobParameter",
    "Plugin",
    "Processor",
    "Reader",
    "RepeatStatus",
    "Setup",
    "StepSummary",
    "Stream",
    "Tasklet",
    "Writer",
    "debug",
    "error",
    "export_decider",
    "export_processor",
    "export_reader",
    "export_tasklet",
    "export_writer",
    "info",
    "log",
    "warn",
]
