"""Alert events: the contract, and their delivery to Kafka and to signed webhooks."""
