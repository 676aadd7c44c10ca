"""Vector indexes behind one interface: add, remove, search, save, load."""
