"""Which tickers, companies and sectors an item is about (`extract`, with the bundled
`entities.json`)."""

__all__ = ["extract"]
