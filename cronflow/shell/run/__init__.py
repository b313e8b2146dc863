"""One run's lifecycle, as the daemon, ``cronflow run`` and :mod:`cronflow.api` run it:
jobs (attempts, retries, hooks, notifications) and flows (steps per the plan).
"""
