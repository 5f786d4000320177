"""Notifications: call summaries, the outbox, and the SMS and email senders."""
