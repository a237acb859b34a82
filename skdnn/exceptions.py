"""Exceptions and warnings raised by skdnn."""


class UnknownComponentError(ValueError):
    """A component name (activation, optimizer, ...) that no registry knows."""


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss before any finite state was reached."""


class SkdnnWarning(UserWarning):
    """Base class of the warnings skdnn emits."""


class TrainingInterruptedWarning(SkdnnWarning):
    """Training stopped early (divergence or interruption); the message says what was kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``: the estimator kept what it had, then the interrupt goes on.

    It is a ``KeyboardInterrupt``, so it stops whatever called ``fit`` (a
    script, ``cross_val_score``, a search, the next stage of a layer-wise fit),
    while the interrupted estimator stays fitted and usable: a
    :class:`TrainingInterruptedWarning` says which weights it kept.

    Parameters
    ----------
    epoch : int
        The epoch that was interrupted.
    kept_epoch : int or None
        The epoch whose weights were restored (the best one so far), or None
        when no epoch had finished and the weights are those of the moment of
        the interruption.

    Attributes
    ----------
    result : object or None
        What the training run left (a ``skdnn.training.setup.TrainingResult``),
        set by the training loop for the estimator to store.
    """

    def __init__(self, epoch: int, kept_epoch: int | None) -> None:
        super().__init__(epoch, kept_epoch)
        self.epoch = epoch
        self.kept_epoch = kept_epoch
        self.result = None

    def __str__(self) -> str:
        if self.kept_epoch is None:
            return (
                f"Training interrupted during epoch {self.epoch}, before any epoch of this fit "
                "finished: the network keeps its weights as they were at the interruption."
            )
        return (
            f"Training interrupted during epoch {self.epoch}; kept the weights of epoch "
            f"{self.kept_epoch}, the lowest monitored loss so far."
        )
