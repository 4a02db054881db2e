"""Entry point of the PyTorch reference: `from models import build, SPECS`.

The implementations live in the locus_ref package, one file per model family
(deit.py, localvit.py, ceit.py, sag.py); see README.md.
"""
from locus_ref import SPECS, build, constants  # noqa: F401  (re-exported)
