"""Benchmarks that print JSON / Markdown (``minape bench models|pipeline``): Minape against
the paper's baselines (``models``), and the data pipeline against a librosa loop
(``pipeline``). Each module's ``main(argv)`` is the command."""
