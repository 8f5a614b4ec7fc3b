"""Making the classifier: data loading, fine-tuning, evaluation and export into model_repo."""
