"""Building blocks shared by every flow: errors, settings, values, time zones, windows, retries."""
