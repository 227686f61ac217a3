"""Errors the engine raises on bad user input.

Every error a user can cause derives from :class:`ISPEngineError`. The CLI
prints ``str(error)`` as one line and exits with status 2; it never shows a
traceback for these.
"""

from __future__ import annotations


class ISPEngineError(Exception):
    """Base class of every user-facing engine error."""


class PluginError(ISPEngineError):
    """A plugin failed to load, registered something invalid, or clashed."""


class UnknownComponentError(ISPEngineError, KeyError):
    """A name that no registered component carries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ParamError(ISPEngineError, ValueError):
    """A parameter or setting is missing, of the wrong type or shape, or out of its range.

    ``key`` names the parameter or setting when the error concerns one (spec
    loaders turn it into the key of a :class:`SpecError`); the text reads
    ``key: message``.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.message = message
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)

    def __reduce__(self) -> tuple:  # keep the key across processes (executors)
        return (_rebuild_param_error, (type(self), self.message, self.key))


def _rebuild_param_error(cls: type[ParamError], message: str, key: str | None) -> ParamError:
    return cls(message, key=key)


class InputError(ISPEngineError, ValueError):
    """An image has the wrong shape, dtype, or non-finite values."""


class SpecError(ISPEngineError):
    """A pipeline spec is malformed.

    The message names the file, the stage index and type, and the key when
    they are known: ``spec.toml: stage 2 (gamma_tone): params.g2: ...``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        stage_index: int | None = None,
        stage_type: str | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.stage_index = stage_index
        self.stage_type = stage_type
        self.key = key
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.source:
            parts.append(self.source)
        if self.stage_index is not None:
            label = f"stage {self.stage_index}"
            if self.stage_type:
                label += f" ({self.stage_type})"
            parts.append(label)
        if self.key:
            parts.append(self.key)
        parts.append(self.message)
        return ": ".join(parts)
