"""From Redis to the page: the /ws protocol, the fan-out, views rendered once and pushed ready to apply."""
