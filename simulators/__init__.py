"""Faithful HTTP simulators of Odoo 18 and AfterShip, for the tests and the demo.

Production code never imports this package.
"""
