"""Text data, tokenization and models (torchtext-like)."""
