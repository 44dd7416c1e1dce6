"""S3 operation handlers, one module per resource kind."""
