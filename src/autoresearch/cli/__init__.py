"""The `autoresearch` command line, one module per command group: a thin layer over the library.

May import: everything. Nothing imports it but `__main__`.
"""
