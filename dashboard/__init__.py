"""The compliance dashboard (Streamlit): a client of the labelgate REST API over HTTP, never of the database.

Layout: ``app.py`` (entry point, navigation by role), ``views/`` (one page each), ``client.py`` (every API
call and path), ``access.py`` (roles → pages and actions), ``state.py`` (session, per-caller cache),
``charts.py`` / ``graphs.py`` / ``tables.py`` / ``export.py`` (pure shaping and plotting), ``ui.py``.
"""
