"""Expiry with a soft landing: notices before a bill expires, and its rest gifted after."""
