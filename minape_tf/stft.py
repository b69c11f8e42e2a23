"""STFT framing arithmetic, shared by the group specs and the log-Mel layer (no imports, so
that both, and the command line's fast start, can use it)."""


def frame_count(length: int, n_fft: int, hop: int) -> int:
    """STFT frames of ``length`` samples with window ``n_fft`` and hop ``hop``, no centring
    (``center=False``: frame ``t`` covers samples ``t*hop ... t*hop + n_fft - 1``)."""
    return 1 + (int(length) - n_fft) // hop
