"""An account over a date range: trades rebuilt from deals, statistics, balance history, exports."""
