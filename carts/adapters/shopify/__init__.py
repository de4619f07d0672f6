"""Shopify (Admin REST API): orders, fulfillments through fulfillment orders, stock, webhooks."""
