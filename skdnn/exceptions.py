"""Exceptions and warnings raised by skdnn."""


class UnknownComponentError(ValueError):
    """A component name (activation, optimizer, ...) that no registry knows."""


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss before any finite state was reached."""


class SkdnnWarning(UserWarning):
    """Base class of the warnings skdnn emits."""


class TrainingInterruptedWarning(SkdnnWarning):
    """Training stopped early (divergence or interruption); best weights kept."""
