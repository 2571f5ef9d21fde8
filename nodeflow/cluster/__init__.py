"""``nodeflow serve --ray``: one SQLite queue on the head, worker actors on a Ray cluster.

Only :mod:`.serve` (and what it imports) touches ray; it is imported when ``--ray`` is given,
so a plain ``nodeflow serve`` never loads ray. :mod:`.capabilities`, :mod:`.scheduler`,
:mod:`.files` and :mod:`.fanout` are plain Python, tested without a cluster.
"""
