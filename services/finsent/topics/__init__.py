"""Which tickers, companies and sectors an item is about."""
