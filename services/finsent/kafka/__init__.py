"""FinSent's one home for Kafka: clients, topic creation, the scorer's source and sink. The only
package that imports kafka-python, apart from the consumer loops of the aggregator and the webhook
dispatcher (still to move here)."""
