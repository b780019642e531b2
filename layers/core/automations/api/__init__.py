"""HTTP helpers shared by the handlers that sit behind API Gateway."""
