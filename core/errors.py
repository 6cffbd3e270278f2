"""Typed errors raised by `core`.

Every error carries a message that says what is wrong and what the user can do about it. The
app shows `str(error)` as is, so messages are written for people, not for logs.
"""

from __future__ import annotations


class VidihandError(Exception):
    """Base class: something the user can understand and act on."""

    #: Short title for dialogs ("Cannot open video").
    title = "Error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n{hint}")


class VideoOpenError(VidihandError):
    """A video or image folder cannot be opened or decoded."""

    title = "Cannot open video"


class VideoReadError(VidihandError):
    """A frame of an opened video cannot be decoded (damage inside the file)."""

    title = "Cannot read frame"


class LabelFileError(VidihandError):
    """A label file is missing, malformed, of an unknown schema or does not fit the video."""

    title = "Cannot use label file"


class LabelMismatchError(LabelFileError):
    """A label file was made for another video (hash or frame count differ)."""

    title = "Labels belong to another video"


class ReconstructorError(VidihandError):
    """A reconstructor backend cannot be created or failed while running."""

    title = "Reconstruction failed"


class CheckpointError(ReconstructorError):
    """Model weights are missing or do not match the configuration."""

    title = "Cannot load model weights"


class EditError(VidihandError):
    """An edit cannot be applied (bad frame, bad joint, malformed edit list)."""

    title = "Cannot apply edit"


class CancelledError(VidihandError):
    """The user cancelled a long operation."""

    title = "Cancelled"


class RemoteError(VidihandError):
    """A remote worker refused a request or the connection failed."""

    title = "Remote worker"


class SettingsError(VidihandError):
    """A settings file or value is invalid."""

    title = "Invalid settings"


class ExportError(VidihandError):
    """Labels cannot be exported in the asked format (what the format needs is missing)."""

    title = "Cannot export"


class MissingExtraError(VidihandError):
    """A feature needs an optional dependency group (a pip extra) that is not installed."""

    title = "Optional part not installed"
