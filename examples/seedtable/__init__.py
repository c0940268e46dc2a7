"""The pieces of ``examples/seed_table.py``.

``data`` (the readers) and ``experiments`` (arms, architectures as numbers, batch order) are
NumPy only; ``models_torch``/``train_torch`` and ``models_flax``/``train_flax`` are the two
frameworks' twins, with the same names.
"""
