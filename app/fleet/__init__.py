"""Which Machine holds a call, and fly-replay answers; nothing Fly-specific lives elsewhere."""
