"""The storage ports over DynamoDB (pynamodb): one module per store, each with the one adapter class that
implements its port of :mod:`automations.ports`, answering domain values.

- :mod:`~automations.adapters.dynamodb.tables`: the pynamodb models of the tables, and their binding;
- :mod:`~automations.adapters.dynamodb.writes`: the conditional writes and the transactions' connection;
- :mod:`~automations.adapters.dynamodb.automations`, :mod:`~automations.adapters.dynamodb.events`,
  :mod:`~automations.adapters.dynamodb.runs`, :mod:`~automations.adapters.dynamodb.counters`,
  :mod:`~automations.adapters.dynamodb.messages`, :mod:`~automations.adapters.dynamodb.suppressions`,
  :mod:`~automations.adapters.dynamodb.stats`, :mod:`~automations.adapters.dynamodb.keys`,
  :mod:`~automations.adapters.dynamodb.workspaces`, :mod:`~automations.adapters.dynamodb.contacts`,
  :mod:`~automations.adapters.dynamodb.tasks` and :mod:`~automations.adapters.dynamodb.coupons`: the stores.

Every rule that must hold under concurrency is a conditional write, never a read then a write.
"""
