"""Calibration of the audit on real data: real-vs-real splits and planted defects.

``common`` loads the real sets and splits them; each other module of this folder lists the
planted defects of one family (``DEFECTS``); ``benchmarks/audit_validity.py`` runs them all.
"""
