"""Job and flow files (pure): TOML text -> a checked :class:`~cronflow.model.Job` or
:class:`~cronflow.model.Flow`, every error with its ``path:line``.
"""
