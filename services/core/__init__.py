"""What every subsystem shares: settings, secrets, time units, the broker's clock, MT5 records, the worker."""
