"""The web UI: server-rendered pages over the same read model and application as the API."""
