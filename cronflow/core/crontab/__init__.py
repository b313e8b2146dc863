"""Crontab import (pure): crontab lines -> job tables, and names from commands.
"""
