"""Settings, database, security primitives and the live-event bus of the cloud."""
