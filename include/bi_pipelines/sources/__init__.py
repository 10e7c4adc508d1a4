"""One module per source system: how to read it in windows, streaming, with bounded memory."""
