"""Adapters: the ports over AWS. DynamoDB (pynamodb, one module per store under :mod:`~automations.adapters.dynamodb`),
EventBridge Scheduler, SQS, SES, Secrets Manager, and the clock."""
