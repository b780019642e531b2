"""Adapters: DynamoDB (pynamodb), EventBridge Scheduler, SQS, SES, the clock and settings."""
