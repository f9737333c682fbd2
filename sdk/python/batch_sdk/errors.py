"""batch_sdk → errors: a plugin failure with a dotted kind."""


class Error(Exception):
    """A plugin failure: a dotted ``kind`` that fault-tolerance rules match on, and a message.

    Kinds go from general to specific (``validation.email``, ``io.timeout``): a job's rule for
    ``validation`` also matches ``validation.email``, and the most specific rule wins.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    @classmethod
    def config(cls, message: str) -> "Error":
        """A bad ``config`` section in job.yaml (kind ``config``)."""
        return cls("config", message)

    @classmethod
    def validation(cls, rule: str, message: str) -> "Error":
        """An item that fails a validation rule: kind ``validation.<rule>``."""
        return cls(f"validation.{rule}", message)

    @classmethod
    def io(cls, what: str, message: str) -> "Error":
        """An input/output failure: kind ``io.<what>``, such as ``io.timeout``."""
        return cls(f"io.{what}", message)

    @classmethod
    def from_exception(cls, e: BaseException) -> "Error":
        """Any exception as an Error: ``Error`` stays itself, an ``OSError`` becomes ``io.*``
        (as the Rust SDK maps I/O errors), anything else ``plugin.exception`` naming its type,
        so a bug in a plugin fails the item with a kind no skip rule matches by accident."""
        if isinstance(e, Error):
            return e
        if isinstance(e, FileNotFoundError):
            return cls.io("not-found", "not found in the step's directory (the only one a plugin can see)")
        if isinstance(e, PermissionError):
            return cls.io(
                "permission-denied",
                "not permitted: the step's directory is granted read-only, or the path leaves it",
            )
        if isinstance(e, TimeoutError):
            return cls.io("timeout", str(e))
        if isinstance(e, OSError):
            return cls.io("other", e.strerror or str(e))
        return cls("plugin.exception", f"{type(e).__name__}: {e}")
