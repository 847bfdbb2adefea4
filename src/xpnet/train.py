"""The minibatch training loop (placeholder replaced below)."""


class DivergenceError(FloatingPointError):
    """The training loss became NaN or inf."""
