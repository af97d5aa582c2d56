"""Housekeeping: deleting rows that can no longer answer anything (see ``service``)."""
