"""The compliance dashboard (Streamlit): a client of the labelgate REST API over HTTP, never of the database.

Layout: ``app.py`` (entry point, navigation by role), ``views/`` (one page each), ``client.py`` (every API
call; ``endpoints.py`` every path), ``access.py`` (roles → pages and actions), ``state.py`` (session,
per-caller cache), ``charts.py`` / ``graphs.py`` / ``tables.py`` / ``export.py`` (pure shaping and plotting),
``geometry.py`` / ``overlay.py`` (labels read and drawn over an item, pure), ``labelview.py`` (labels on an
item, the widget), ``evidence.py`` (a gate evaluation's evidence, per task), ``ui.py``.
"""
