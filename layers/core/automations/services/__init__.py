"""Services: ingest, runner, email sending, feedback and management, applying effects through ports."""
