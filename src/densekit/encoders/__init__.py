"""Encoders turn inputs into float32 vectors. Each backend implements one batch method."""
