"""Database access shared by every flow: connections, hooks, identifiers, driver compatibility."""
