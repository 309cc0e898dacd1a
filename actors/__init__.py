"""(interface docstring pending)"""
