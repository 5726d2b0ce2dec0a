"""``python -m fracture.serve ...``: the same as ``fracture-serve ...``."""

from fracture.serve.cli import main

main()
