"""Attacks on verification: forged letters that viewers show differently from what was signed.

Each attack class from the security notes has a builder (``builders``) that turns a freshly
issued letter into a forgery with raw bytes (``rawpdf``); the tests verify every forgery and
assert docgen's verdict, and where cheap they show with poppler that the forgery fools a viewer.
"""
