"""``fracture-bench``: data path, training step, inference rate and memory on this machine.

One module per measurement: ``dataset`` (large synthetic images), ``data`` (ImageFolder + PIL
against fracture's cached path), ``training`` (Lightning against a plain PyTorch loop, and
end to end from the cache), ``features`` (frozen epochs over images against cached features),
``inference`` and ``memory``; ``settings`` holds the presets, ``config`` composes the real
``conf/``, ``timing`` the timers, ``report`` the table and targets, ``cli`` runs them all.
"""
