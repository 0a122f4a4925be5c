"""Entities people can use: label repair (a spaCy component), canonical entities and salience."""
