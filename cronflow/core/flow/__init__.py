"""Flows (pure): the step graph, the plan of what runs next, step outputs.
"""
