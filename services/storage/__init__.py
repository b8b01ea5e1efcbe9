"""Where the account is kept: the Redis key schema (the live bus and hot window) and the durable archive."""
