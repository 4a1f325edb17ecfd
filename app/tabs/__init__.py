"""One module per dashboard tab: `TAB_ID`, `LABEL`, `layout()` and `register(app)`."""
