"""Alerting: subscriptions to the log, and the notifier that delivers what they select."""
