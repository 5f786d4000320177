"""The business's own calendar: Google Calendar, Cal.com or CalDAV, read and written (docs/calendars.md)."""
