"""Evaluation: metric functions, dataset loaders and benchmark runners (STS, retrieval, QA)."""
