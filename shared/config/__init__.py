"""Settings (one pydantic model per function, from small mixins) and secrets."""
