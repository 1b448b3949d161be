#!/usr/bin/env python3
"""Publish one notification order straight onto the orders topic, as a system outside the
gateway would: confluent-kafka with its Avro serializer against the schema registry's
Confluent-compatible API.

What a direct producer must get right (see README, "Publishing orders directly"):
  * topic  <TOPIC_PREFIX>altinn.notifications.orders, value subject <topic>-value
  * key    the orderId as UTF-8 bytes, partitioned with murmur2 as the Java client does:
           librdkafka's default is CRC32, so set partitioner=murmur2_random
  * idempotent producer, acks=all
  * the value written with the registered schema (use.latest.version, never auto-register)

Usage:
  producer.py --order order.json      one NotificationOrder as JSON (ids as canonical UUIDs,
                                      times as epoch milliseconds); prints the delivery as JSON
Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL (the Confluent-compatible base), TOPIC_PREFIX.
"""
import argparse
import json
import os
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--order", required=True, help="path of a NotificationOrder JSON file, or - for stdin")
    args = parser.parse_args()
    order = json.load(sys.stdin if args.order == "-" else open(args.order, encoding="utf-8"))

    topic = os.environ.get("TOPIC_PREFIX", "") + "altinn.notifications.orders"
    registry = SchemaRegistryClient({"url": os.environ["SCHEMA_REGISTRY_URL"]})
    # The pipeline registers the schema; an outside producer writes with it and never
    # registers its own (a schema of its own would be a new version others must read).
    serialize = AvroSerializer(
        registry,
        conf={"auto.register.schemas": False, "use.latest.version": True},
    )
    producer = Producer(
        {
            "bootstrap.servers": os.environ["KAFKA_BROKERS"],
            "enable.idempotence": True,
            "acks": "all",
            # librdkafka hashes keys with CRC32 by default; the platform (and the Java client)
            # use murmur2, and an order's records must land where the pipeline expects them.
            "partitioner": "murmur2_random",
        }
    )
    delivered = {}

    def on_delivery(err, msg):
        if err is not None:
            delivered["error"] = str(err)
        else:
            delivered.update(topic=msg.topic(), partition=msg.partition(), offset=msg.offset())

    value = serialize(order, SerializationContext(topic, MessageField.VALUE))
    producer.produce(topic, key=order["orderId"].encode("utf-8"), value=value, on_delivery=on_delivery)
    if producer.flush(30) != 0:
        print(json.dumps({"error": "not delivered within 30 s"}))
        return 1
    print(json.dumps(delivered))
    return 0 if "error" not in delivered else 1


if __name__ == "__main__":
    sys.exit(main())
