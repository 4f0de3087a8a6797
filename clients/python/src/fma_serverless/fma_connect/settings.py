"""Client settings, as FMA's `fma_connect.settings`."""

default_url = "http://127.0.0.1:8000/"

#: Updates with more raw bytes than this (values x 8 for Python floats) go as bytes.
binary_threshold_bytes = 1_048_576
