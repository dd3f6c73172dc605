"""Developer tools: the benchmark data generator (``python -m bench generate``).

Not imported by the server. ``vocab`` holds the text material, ``lifecycle`` the pure
simulation of one issue's life, ``generate`` the seeded plan and the COPY loading.
"""
