"""Local stand-ins for the carts and warehouses the hub talks to, for tests and demos.

The cart emulators (`sandbox.shopify`, `sandbox.woocommerce`, `sandbox.bigcommerce`) speak the
real wire formats over HTTP on 127.0.0.1, keep their state in memory and let a test inject
faults; `python -m sandbox shopify` runs one standalone.
"""
