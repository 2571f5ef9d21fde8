"""The one error type of model loading, kept free of torch so path helpers can raise it too."""


class CheckpointError(ValueError):
    """A model file or name that cannot be used; the message names the file and says what is wrong."""
