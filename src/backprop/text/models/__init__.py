"""Language models trained from scratch: sentence classifiers and an encoder-decoder translator."""

from .classifier import BiLSTMClassifier, TransformerClassifier
from .translation import SinusoidalPositionalEncoding, TranslationTransformer

__all__ = ["BiLSTMClassifier", "SinusoidalPositionalEncoding", "TransformerClassifier", "TranslationTransformer"]
