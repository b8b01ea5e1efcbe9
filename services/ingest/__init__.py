"""From MT5 to storage: the sources, the one streamer thread per account, collectors, leadership and their health."""
