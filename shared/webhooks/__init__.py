"""Outbound webhooks (issue 12): endpoints, Standard Webhooks signing, URL vetting, delivery."""
