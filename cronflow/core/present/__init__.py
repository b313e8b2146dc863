"""What the CLI shows (pure): list rows, times and tables, flow trees and Gantt bars.
"""
