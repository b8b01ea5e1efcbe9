"""Risk rules, evaluated on every poll: the alert engine, its Redis mirror and the webhook."""
