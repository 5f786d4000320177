"""Callers: returning-caller memory, blocked numbers and the spam policy (issue 24)."""
