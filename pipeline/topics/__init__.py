"""IPTC Media Topics classification: taxonomy, the shipped model, training and evaluation."""
