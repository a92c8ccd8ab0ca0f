"""Contracts of documents that more than one service reads or writes: data and pure rules only."""
