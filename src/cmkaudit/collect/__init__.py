"""The collect stage: read-only crawlers that turn Azure into an inventory."""
