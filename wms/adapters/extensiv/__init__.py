"""Extensiv 3PL Warehouse Manager: REST orders out, shipments and stock back."""
