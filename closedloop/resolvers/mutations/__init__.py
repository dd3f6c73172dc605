"""One module per mutation: its input type and its resolver."""
