"""Text: tokenization, datasets, batching and models for language tasks (torchtext-like)."""
