"""When fires happen and what they do (pure): the heap of due instants, catch-up,
the overlap decision, fires prepared ahead.
"""
