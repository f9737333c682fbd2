"""batch_sdk → log: structured log records through the host's logger (job, step and plugin
fields are added by the host; values here are plain text)."""


def log(level: str, message: str, **fields: object) -> None:
    """Emits one record at ``level`` (trace, debug, info, warn or error)."""
    from wit_world.imports import log as wit

    lvl = getattr(wit.Level, level.upper())
    wit.log(lvl, str(message), [(str(k), str(v)) for k, v in fields.items()])


def debug(message: str, **fields: object) -> None:
    log("debug", message, **fields)


def info(message: str, **fields: object) -> None:
    log("info", message, **fields)


def warn(message: str, **fields: object) -> None:
    log("warn", message, **fields)


def error(message: str, **fields: object) -> None:
    log("error", message, **fields)
