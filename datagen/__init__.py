"""Synthetic Online Retail (II) transactions with ground truth and exactly counted dirt.

Public API::

    from datagen import GeneratorSpec, DirtRates, generate, extend
    manifest = generate(GeneratorSpec(rows=1_000_000, months=12), landing, truth)
    manifest = extend(landing, truth, months=1)

CLI: ``python -m datagen --help``.
"""

from .generator import extend, generate, load_manifest
from .spec import DirtRates, GeneratorSpec

__all__ = ["DirtRates", "GeneratorSpec", "extend", "generate", "load_manifest"]
