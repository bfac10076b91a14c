"""Forecast and search for the limit of the batch size (issue 19)."""
