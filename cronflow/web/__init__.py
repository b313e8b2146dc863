"""The web dashboard and HTTP API of ``cronflow web`` (SPEC section 14).

Its own process: it reads the state directory (SQLite in WAL mode) and hands actions to
the daemon through the spool, exactly as the CLI does, so it can never delay a fire and
keeps answering while the daemon restarts. Imported only by the ``web`` verb: Starlette,
uvicorn and Jinja2 are the optional extra ``cronflow[web]``.

- :mod:`.auth`: the token file, the session cookie, Host and Origin checks.
- :mod:`.state`: what the pages and the API read (the CLI's own objects) and do.
- :mod:`.api`, :mod:`.pages`: the routes; :mod:`.live`: server-sent events fed by
  watching the state dir; :mod:`.metrics`: Prometheus text; :mod:`.svg`: Gantt bars.
- :mod:`.app`: the Starlette application and the server.
"""
